from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.blueprints.queue.forms import _int_or_none, category_choices, institution_choices
from app.cached_select import CachedSelectField
from app.kept_fields import StaticForm
from app.models import PRIORITY_LABELS, REGIME_LABELS, REJECT_REASONS, STATUS_LABELS


class VersionedForm(StaticForm, FlaskForm):
    version = IntegerField(validators=[DataRequired()])


class StatusForm(VersionedForm):
    # The state machine checks both and explains a refusal (unknown status, missing reason).
    status = SelectField(_l("Новый статус"), choices=list(STATUS_LABELS.items()), validate_choice=False)
    reason = SelectField(_l("Причина"), choices=[("", "—")] + list(REJECT_REASONS.items()), default="",
                         validate_choice=False)
    comment = StringField(_l("Комментарий"), validators=[Optional(), Length(max=1000)])


class AssignForm(VersionedForm):
    institution_id = CachedSelectField(_l("Исполнитель"), coerce=_int_or_none,
                                       validators=[DataRequired(_l("Выберите учреждение"))])

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        # choices and <option> HTML once per reference data version and locale (app/cached_select.py)
        self.institution_id.use(("ticket.institution",), lambda: institution_choices(
            _l("— выберите учреждение —"), receiving_only=True))


class CategoryForm(VersionedForm):
    category_id = CachedSelectField(_l("Рубрика"), coerce=_int_or_none,
                                    validators=[DataRequired(_l("Выберите рубрику"))])

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.category_id.use(("ticket.category",), lambda: category_choices(_l("— выберите рубрику —")))


class PriorityForm(VersionedForm):
    priority = SelectField(_l("Приоритет"), choices=list(PRIORITY_LABELS.items()),
                           validators=[DataRequired(_l("Выберите приоритет"))])


class NoteForm(StaticForm, FlaskForm):
    text = TextAreaField(_l("Внутренняя заметка"),
                         validators=[DataRequired(_l("Заметка пуста")), Length(max=5000)])


class ReplyForm(StaticForm, FlaskForm):
    text = TextAreaField(_l("Ответ жителю"),
                         validators=[DataRequired(_l("Текст ответа пуст")), Length(max=4000)])


class MergeForm(VersionedForm):
    merge_into = StringField(_l("Номер основного обращения"),
                             validators=[DataRequired(_l("Укажите номер")), Length(max=32)])


class ReturnForm(FlaskForm):
    version = HiddenField()


class InterimForm(StaticForm, FlaskForm):
    text = TextAreaField(_l("Промежуточный ответ"),
                         validators=[DataRequired(_l("Текст промежуточного ответа пуст")), Length(max=4000)])
    promised = StringField(_l("Срок окончательного ответа"),
                           validators=[DataRequired(_l("Укажите срок окончательного ответа")), Length(max=20)])


class ExtendForm(VersionedForm):
    reason = TextAreaField(_l("Причина продления"),
                           validators=[DataRequired(_l("Укажите причину продления")), Length(max=1000)])


class RegimeForm(VersionedForm):
    regime = SelectField(_l("Режим"), choices=list(REGIME_LABELS.items()), validate_choice=False)
    reason = StringField(_l("Основание"), validators=[DataRequired(_l("Укажите, почему меняется режим")),
                                                      Length(max=500)])
