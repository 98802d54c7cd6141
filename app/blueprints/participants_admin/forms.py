from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FileField, HiddenField, PasswordField, SelectField, StringField

from app.blueprints.queue.forms import _int_or_none
from app.services import participants


class ParticipantFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Название или адрес страницы"))
    direction = SelectField(_l("Направление"), coerce=_int_or_none)
    receives = SelectField(_l("Обращения жителей"), choices=[("", _l("Все")), ("1", _l("Получает")),
                                                             ("0", _l("Не получает"))])

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.direction.choices = [("", _l("Все направления"))] + [(str(d.id), d.name)
                                                                   for d in participants.directions()]


class ParticipantForm(FlaskForm):
    # Lengths are checked by services/participants (one place, a clear message per field).
    name = StringField(_l("Официальное название"))
    short_name = StringField(_l("Краткое название"))
    direction_id = SelectField(_l("Направление"), coerce=_int_or_none)
    address = StringField(_l("Адрес"))
    site = StringField(_l("Сайт (http:// или https://)"))
    logo = FileField(_l("Логотип (PNG, JPEG или WebP)"))
    remove_logo = BooleanField(_l("Убрать логотип"))
    smm_name = StringField(_l("SMM-специалист (ФИО, видно только сотрудникам)"))
    smm_contacts = StringField(_l("Контакты SMM-специалиста (видно только сотрудникам)"))
    receives_appeals = BooleanField(_l("Получает обращения жителей"), default=True)
    public_feedback = BooleanField(_l("Показывать на публичной странице, как отвечает жителям"), default=True)
    slug = StringField(_l("Адрес страницы (латиница, цифры, дефис)"))
    posts_need_approval = BooleanField(_l("Посты публикуются после согласования пресс-службой"))

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.direction_id.choices = [("", _l("— выберите направление —"))] + [(str(d.id), d.name)
                                                                              for d in participants.directions()]


class AddressForm(FlaskForm):
    address = StringField(_l("Адрес аккаунта (ссылка или @имя)"))


class ConfirmAccountForm(FlaskForm):
    address = HiddenField()
    network = HiddenField()
    external_id = HiddenField()


class OtherAccountForm(FlaskForm):
    label = StringField(_l("Сеть (Дзен, RuTube…)"))
    url = StringField(_l("Ссылка (http:// или https://)"))


class CredentialsForm(FlaskForm):
    # Never pre-filled and never rendered back: a stored token is only said to be set.
    token = PasswordField(_l("Токен сообщества / группы"))
    secret = PasswordField(_l("Секретный ключ Callback API"))
    confirmation_code = StringField(_l("Строка подтверждения Callback API"))
    user_token = PasswordField(_l("Токен пользователя ВКонтакте (для публикации фото)"))


class ClearForm(FlaskForm):
    which = HiddenField()


class ActiveForm(FlaskForm):
    active = HiddenField()


