from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(_l("Имя пользователя"),
                           validators=[DataRequired(_l("Введите имя пользователя")), Length(max=64)])
    password = PasswordField(_l("Пароль"), validators=[DataRequired(_l("Введите пароль"))])
    remember = BooleanField(_l("Запомнить меня"))
