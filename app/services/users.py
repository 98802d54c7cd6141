"""Staff accounts managed in the app (/admin/users): roles, institutions, deactivation, password resets.

Deactivating a user or setting a new password ends every session of theirs (User.end_sessions)."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services import auth
from app.services.admin import ensure_admin
from app.services.errors import ValidationFailed


def all_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.is_active_user.desc(), User.username)))


def create(actor: User, username: str, password: str, role: str, institution_id: int | None,
           full_name: str = "", email: str | None = None) -> User:
    ensure_admin(actor)
    return auth.create_user(username, password, role, full_name=(full_name or "").strip(),
                            institution_id=institution_id if role == "executor" else None,
                            email=(email or "").strip() or None)


def set_role(actor: User, user: User, role: str, institution_id: int | None) -> None:
    ensure_admin(actor)
    institution_id = institution_id if role == "executor" else None
    if user.id == actor.id and role != user.role:
        raise ValidationFailed("Свою роль изменить нельзя: попросите другого администратора", field="role")
    auth.validate_role(role, institution_id)
    if (user.role, user.institution_id) != (role, institution_id):
        user.role, user.institution_id = role, institution_id
        user.end_sessions()  # what the user may see changed: pages open under the old role end


def set_active(actor: User, user: User, active: bool) -> None:
    ensure_admin(actor)
    if user.id == actor.id and not active:
        raise ValidationFailed("Нельзя отключить самого себя", field="active")
    if user.is_active_user != active:
        user.is_active_user = active
        user.end_sessions()


def reset_password(actor: User, user: User, password: str) -> None:
    ensure_admin(actor)
    if user.id == actor.id:  # one's own password needs the current one (/account/password), an admin's too
        raise ValidationFailed("Свой пароль меняйте на странице «Смена пароля»: там нужен текущий пароль",
                               field="password")
    auth.validate_password(password, user.username)
    user.set_password(password)
    user.end_sessions()
