from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, MultipleFileField, StringField, TextAreaField


class ComposeForm(FlaskForm):
    # Lengths and content are checked by services/publishing/posts.py (one place, a clear message per field).
    text = TextAreaField(_l("Текст"))
    photos = MultipleFileField(_l("Фото (JPEG, PNG, WebP или GIF; до 10 штук, до 10 МБ каждое)"))
    remove_photos = BooleanField(_l("Убрать фото"))
    link_preview = BooleanField(_l("Превью ссылок (карточку ссылки строит сама соцсеть)"), default=True)
    at = StringField(_l("Опубликовать в (местное время; пусто — сейчас)"))
    # A new post's idempotency key (made when the page opens): a double click on «Опубликовать» makes one post.
    form_key = HiddenField()


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Причина (её увидит автор)"))


class TextForm(FlaskForm):
    text = TextAreaField(_l("Новый текст"))


class ActionForm(FlaskForm):
    confirm = HiddenField()
