from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(_l("Имя пользователя"),
                           validators=[DataRequired(_l("Введите имя пользователя")), Length(max=64)])
    password = PasswordField(_l("Пароль"), validators=[DataRequired(_l("Введите пароль"))])
    remember = BooleanField(_l("Запомнить меня"))


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Текущий пароль"), validators=[DataRequired(_l("Введите текущий пароль"))])
    new = PasswordField(_l("Новый пароль"), validators=[DataRequired(_l("Введите новый пароль"))])
    confirm = PasswordField(_l("Новый пароль ещё раз"), validators=[DataRequired(_l("Повторите новый пароль"))])


class SetPasswordForm(FlaskForm):
    new = PasswordField(_l("Новый пароль"), validators=[DataRequired(_l("Введите новый пароль"))])
    confirm = PasswordField(_l("Новый пароль ещё раз"), validators=[DataRequired(_l("Повторите новый пароль"))])
