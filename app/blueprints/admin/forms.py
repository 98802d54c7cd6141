from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length

from app.blueprints.queue.forms import _int_or_none, institution_choices


class CategoryRulesForm(FlaskForm):
    keywords = TextAreaField(_l("Ключевые слова (начала слов через пробел)"), validators=[Length(max=5000)])
    default_institution_id = SelectField(_l("Исполнитель по умолчанию"), coerce=_int_or_none)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.default_institution_id.choices = institution_choices(_l("— не задан —"))
