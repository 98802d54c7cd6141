from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FileField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length

from app.blueprints.queue.forms import _int_or_none, category_choices, institution_choices
from app.models import ROLE_LABELS
from app.models.calendar import CALENDAR_KIND_LABELS


class CategoryRulesForm(FlaskForm):
    keywords = TextAreaField(_l("Ключевые слова (начала слов через пробел)"), validators=[Length(max=5000)])
    default_institution_id = SelectField(_l("Исполнитель по умолчанию"), coerce=_int_or_none)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.default_institution_id.choices = institution_choices(_l("— не задан —"), receiving_only=True)


class PolicyForm(FlaskForm):
    first_response_minutes = IntegerField(_l("Первый ответ, минут"), validators=[InputRequired(_l("Укажите число"))])
    resolution_minutes = IntegerField(_l("Решение, минут"), validators=[InputRequired(_l("Укажите число"))])
    business_hours = BooleanField(_l("Считать в рабочем времени (иначе круглосуточно)"))
    warning_percent = IntegerField(_l("Предупреждать на, % срока"), validators=[InputRequired(_l("Укажите число"))])


class CalendarDayForm(FlaskForm):
    date = DateField(_l("Дата"), validators=[InputRequired(_l("Укажите дату"))])
    kind = SelectField(_l("Вид дня"), choices=list(CALENDAR_KIND_LABELS.items()))
    note = StringField(_l("Примечание"), validators=[Length(max=200)])
    source = StringField(_l("Источник (постановление)"), validators=[Length(max=300)])


class CalendarImportForm(FlaskForm):
    rows = TextAreaField(_l("Строки «ГГГГ-ММ-ДД;вид;примечание»"), validators=[InputRequired(_l("Вставьте строки"))])
    source = StringField(_l("Источник (постановление)"), validators=[Length(max=300)])


class HoursForm(FlaskForm):
    business_hours = StringField(_l("Часы работы"), validators=[Length(max=120)])


def role_choices():
    return [(code, label) for code, label in ROLE_LABELS.items()]


class UserCreateForm(FlaskForm):
    username = StringField(_l("Имя пользователя (логин)"),
                           validators=[InputRequired(_l("Введите имя пользователя")), Length(max=64)])
    full_name = StringField(_l("ФИО"), validators=[Length(max=200)])
    email = StringField(_l("Эл. почта"), validators=[Length(max=200)])
    role = SelectField(_l("Роль"))
    institution_id = SelectField(_l("Учреждение (для исполнителя и SMM-специалиста)"), coerce=_int_or_none)
    password = PasswordField(_l("Пароль"), validators=[InputRequired(_l("Введите пароль"))])

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.role.choices = role_choices()
        self.institution_id.choices = institution_choices(_l("— нет —"))


class UserRoleForm(FlaskForm):
    role = SelectField(_l("Роль"))
    institution_id = SelectField(_l("Учреждение"), coerce=_int_or_none)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.role.choices = role_choices()
        self.institution_id.choices = institution_choices(_l("— нет —"))


class UserPasswordForm(FlaskForm):
    password = PasswordField(_l("Новый пароль"), validators=[InputRequired(_l("Введите пароль"))])


class UserActiveForm(FlaskForm):
    active = HiddenField()


class UsersImportForm(FlaskForm):
    file = FileField(_l("CSV-файл: участник (адрес страницы или точное название); ФИО; e-mail или @имя в Telegram"))


class UsersImportConfirmForm(FlaskForm):
    rows = HiddenField()  # the file's text, checked again before anything is created


class UserLinkForm(FlaskForm):
    pass


class StreetForm(FlaskForm):
    name = StringField(_l("Название (например, «ул. Ленина»)"), validators=[InputRequired(), Length(max=200)])
    district = StringField(_l("Район"), validators=[Length(max=120)])
    aliases = StringField(_l("Другие написания через «;»"), validators=[Length(max=2000)])


class StreetsImportForm(FlaskForm):
    file = FileField(_l("CSV-файл: столбцы name, district, aliases"))


class RoutingRuleForm(FlaskForm):
    """An override rule; the service checks every field (its messages are the ones shown)."""

    name = StringField(_l("Название правила"))
    pattern = TextAreaField(_l("Слова или фразы — по одной на строке (начала слов от 3 букв, короче — целые слова)"))
    category_id = SelectField(_l("Рубрика"), validate_choice=False)
    institution_id = SelectField(_l("Учреждение"), validate_choice=False)
    note = TextAreaField(_l("Примечание"))
    is_active = BooleanField(_l("Действует"), default=True)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.category_id.choices = category_choices(_l("— нет —"))
        self.institution_id.choices = institution_choices(_l("— нет —"), receiving_only=True)


class RoutingActionForm(FlaskForm):
    """CSRF only: the page's buttons (evaluate, train, switch a rule on or off, delete it)."""
