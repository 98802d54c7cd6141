"""The resident's appeal form and the status lookup. Photos are checked in `AppealForm.validate_photos`
(by their bytes, not their names) and kept in memory until the whole form is valid."""
from __future__ import annotations

import uuid

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wtforms import BooleanField, HiddenField, MultipleFileField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from app.channels.web import (
    IMAGE_TYPES,
    MAX_ADDRESS,
    MAX_NAME,
    MAX_TEXT,
    normalise_email,
    normalise_phone,
    safe_display_name,
    sniff_image,
)

MAX_PHOTOS = 5
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 25 * 1024 * 1024
ACCEPT = "image/jpeg,image/png,image/webp,image/heic,image/heif,.jpg,.jpeg,.png,.webp,.heic,.heif"


class Photo:
    """One checked photo, in memory until the submission is stored."""

    def __init__(self, data: bytes, ext: str, name: str | None):
        self.data, self.ext, self.name = data, ext, name
        self.mime = IMAGE_TYPES[ext]


def _one_newline(value):
    """Browsers send line breaks as CRLF but count them as one character in maxlength."""
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


class AppealForm(FlaskForm):
    submission_id = HiddenField()
    # The participant's code from a QR code (`/appeal?p=<code>`): checked again on submit (services/appeals).
    # Inside the city site's frame the session cookie (SameSite=Lax) does not come along, so the session's CSRF
    # token cannot be checked: the form carries a token signed for its own submission id instead (frame_token).
    frame_token = HiddenField()
    participant = HiddenField(filters=[lambda v: v.strip()[:32] if isinstance(v, str) else v])
    text = TextAreaField(_l("Суть обращения"), filters=[_one_newline], validators=[
        DataRequired(_l("Опишите, что случилось")),
        Length(max=MAX_TEXT, message=_l("Не больше 10 000 знаков: сократите текст"))])
    address = StringField(_l("Адрес (где это)"), validators=[
        Optional(), Length(max=MAX_ADDRESS, message=_l("Адрес слишком длинный (не больше 300 знаков)"))])
    photos = MultipleFileField(_l("Фотографии (до 5)"))
    name = StringField(_l("Как к вам обращаться"), validators=[
        Optional(), Length(max=MAX_NAME, message=_l("Имя слишком длинное (не больше 200 знаков)"))])
    phone = StringField(_l("Телефон"), validators=[Optional()])
    email = StringField(_l("Электронная почта"), validators=[Optional()])
    consent = BooleanField(_l("Согласен на обработку персональных данных (152-ФЗ)"), validators=[
        DataRequired(_l("Без согласия на обработку персональных данных мы не можем принять обращение"))])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.checked_photos: list[Photo] = []
        if not self.submission_id.data:
            self.submission_id.data = str(uuid.uuid4())

    @property
    def submission(self) -> str:
        """The submission's id (a double-click re-post carries the same one); a fresh one if tampered with."""
        try:
            return str(uuid.UUID(str(self.submission_id.data)))
        except ValueError:
            self.submission_id.data = str(uuid.uuid4())
            return self.submission_id.data

    def validate_phone(self, field):
        try:
            field.data = normalise_phone(field.data)
        except ValueError:
            raise ValidationError(_l("Укажите телефон полностью, например +7 914 123-45-67")) from None

    def validate_email(self, field):
        try:
            field.data = normalise_email(field.data)
        except ValueError:
            raise ValidationError(_l("Проверьте адрес электронной почты, например ivanova@mail.ru")) from None

    def validate_photos(self, field):
        files = [f for f in (field.data or []) if f is not None and getattr(f, "filename", None)]
        if len(files) > MAX_PHOTOS:
            raise ValidationError(_l("Можно приложить не больше 5 фотографий"))
        photos, total = [], 0
        for f in files:
            name = safe_display_name(f.filename)
            data = f.stream.read(MAX_PHOTO_BYTES + 1)
            if not data:
                raise ValidationError(_l("Файл «%(name)s» пуст", name=name))
            if len(data) > MAX_PHOTO_BYTES:
                raise ValidationError(_l("Файл «%(name)s» больше 10 МБ", name=name))
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                raise ValidationError(_l("Все фотографии вместе — не больше 25 МБ"))
            ext = sniff_image(data[:32])
            if ext is None:
                raise ValidationError(_l("Файл «%(name)s» не похож на фотографию: принимаются JPEG, PNG, WebP "
                                         "и HEIC", name=name))
            photos.append(Photo(data, ext, name))
        self.checked_photos = photos


class StatusLookupForm(FlaskForm):
    class Meta:
        csrf = False  # a GET lookup

    number = StringField(_l("Номер обращения"), validators=[
        DataRequired(_l("Введите номер обращения")), Length(max=32, message=_l("Такого номера не бывает"))])


FRAME_TOKEN_MAX_AGE = 24 * 3600  # a form left open in the frame for a day still posts


def _frame_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="appeal-form-in-frame")


def sign_for_frame(form: AppealForm) -> None:
    """Give the embedded form its token: the submission id signed with the app's key (no session needed)."""
    form.frame_token.data = _frame_signer().dumps(form.submission)


def frame_token_ok(form: AppealForm) -> bool:
    """The embedded form came from our page, for this very submission, within a day. An anonymous form has no
    session to protect; this keeps scripted posts from other sites from using a visitor's browser blindly."""
    try:
        signed = _frame_signer().loads(str(form.frame_token.data or ""), max_age=FRAME_TOKEN_MAX_AGE)
    except BadSignature:
        return False
    return signed == form.submission
