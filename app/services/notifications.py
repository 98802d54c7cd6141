"""In-app notifications of a staff member."""
from __future__ import annotations

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import Notification, User

# The top bar's count, read in the same statement as the signed-in user (app.load_user): kept in the session's info
# until anything is written through that session (flush, commit, rollback, an UPDATE/INSERT/DELETE statement), after
# which unread_count() asks the database again. A new request has a new session, hence a new count.
_STASH = "unread_notifications"


def unread_subquery(user_id_column):
    """count(unread notifications) of the user whose id is `user_id_column`, as a scalar subquery."""
    return (select(func.count(Notification.id))
            .where(Notification.user_id == user_id_column, Notification.read_at.is_(None))
            .correlate_except(Notification).scalar_subquery())


_USER_WITH_UNREAD = []  # the statement, built once per process (building and hashing it per request costs more)


def load_user_with_unread(user_id: int) -> User | None:
    """The user and the top bar's unread count in one statement (every staff page does both)."""
    if not _USER_WITH_UNREAD:
        _USER_WITH_UNREAD.append(select(User, unread_subquery(User.id).label("unread"))
                                 .where(User.id == bindparam("user_id")))
    row = db.session.execute(_USER_WITH_UNREAD[0], {"user_id": user_id}).first()
    if row is None:
        return None
    user, unread = row
    db.session.info[_STASH] = (user.id, int(unread or 0))
    return user


def unread_count(user: User) -> int:
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    kept = db.session.info.get(_STASH)
    if kept is not None and kept[0] == user.id:
        return kept[1]
    return db.session.scalar(select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))


def _forget(session, *_args, **_kw) -> None:
    session.info.pop(_STASH, None)


def _forget_on_write(state) -> None:
    if not state.is_select:
        state.session.info.pop(_STASH, None)


def register() -> None:
    """Drop the kept count on every write through a session (idempotent; called by the app factory)."""
    if not event.contains(Session, "after_flush", _forget):
        for name in ("after_flush", "after_commit", "after_rollback", "after_soft_rollback"):
            event.listen(Session, name, _forget)
        event.listen(Session, "do_orm_execute", _forget_on_write)
