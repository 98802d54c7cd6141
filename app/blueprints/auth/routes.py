from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from app.blueprints.auth.forms import LoginForm, PasswordChangeForm, SetPasswordForm
from app.extensions import db
from app.services import auth, users
from app.services.errors import DomainError

bp = Blueprint("auth", __package__)


def home_for(user) -> str:
    if user.role == "executor":
        return url_for("workspace.index")
    if user.role == "press":
        return url_for("participants_admin.index")
    if user.role == "smm":  # its own participant's accounts (none bound: the notifications, the one page left)
        return url_for("participants_admin.accounts", institution_id=user.institution_id) \
            if user.institution_id else url_for("notifications.index")
    return url_for("board.index") if user.role in ("head", "analyst") else url_for("queue.index")


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = LoginForm()
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            user = auth.authenticate(form.username.data, form.password.data, request.remote_addr or "-")
        except DomainError as exc:
            db.session.commit()  # keep the failed attempt: that is what throttles the next one
            error, status = exc.message, exc.status_code if exc.status_code == 429 else 401
        else:
            db.session.commit()
            # A new session on login: nothing from before it (a CSRF token planted with the cookie) lives on.
            session.clear()
            login_user(user, remember=form.remember.data)
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
                target = home_for(user)
            return redirect(target)
    elif form.is_submitted():
        status = 422
    return render_template("auth/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    """Ends every copy of the session (and the user's other sessions): the session version moves on."""
    current_user.end_sessions()
    db.session.commit()
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            try:
                auth.change_own_password(current_user, form.current.data, form.new.data, form.confirm.data,
                                         request.remote_addr or "-")
            except DomainError as exc:
                db.session.commit()  # nothing changed but a failed attempt: kept, it throttles the next guess
                field = getattr(form, exc.field or "", None) or form.current
                field.errors = [*field.errors, exc.message]
                status = exc.status_code if exc.status_code == 429 else status
            else:
                db.session.commit()
                login_user(current_user._get_current_object())  # this session goes on under the new version
                flash(_("Пароль изменён. Другие сеансы завершены."), "ok")
                return redirect(url_for("auth.change_password"), 303)
    return render_template("auth/password.html", form=form), status


@bp.route("/account/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    """The one-time link of a user created by an admin: a new password twice; the link is then spent.
    A wrong, used or expired link is a 404."""
    user = users.user_by_password_token(token)
    form = SetPasswordForm()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            try:
                users.set_password_by_link(token, form.new.data, form.confirm.data)
            except DomainError as exc:
                db.session.rollback()
                field = getattr(form, exc.field or "", None) or form.new
                field.errors = [*field.errors, exc.message]
            else:
                db.session.commit()
                if current_user.is_authenticated:
                    logout_user()
                flash(_("Пароль задан. Войдите с логином «%(name)s» и новым паролем.", name=user.username), "ok")
                return redirect(url_for("auth.login"), 303)
    resp = make_response(render_template("auth/set_password.html", form=form, user=user), status)
    resp.headers["Cache-Control"] = "no-store"
    return resp
