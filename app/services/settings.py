"""Site settings: the one place they are read and written (model SiteSetting, one row a key, the value as JSON).

`get(key, default)` gives the stored value or the default (nothing stored, or the table not readable yet);
`set(actor, key, value)` stores a JSON-able value and who changed it. Who may change which setting is decided by
the caller through app/services/access.py (a setting belongs to a feature: e.g. rating.public.set_public_top).
The caller commits."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import SiteSetting, User, utcnow

MAX_KEY = 100  # SiteSetting.key


def get(key: str, default: Any = None) -> Any:
    """The stored value of `key`, or `default` when nothing is stored."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        return default
    row = db.session.get(SiteSetting, key)
    return default if row is None or row.value is None else row.value


def set(actor: User | None, key: str, value: Any, now: datetime | None = None) -> SiteSetting:  # noqa: A001
    """Store `value` under `key` (replacing what was there), recording who and when."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise ValueError(f"Недопустимое имя настройки: {key!r}")
    now = now or utcnow()
    who = getattr(actor, "id", None) if getattr(actor, "is_authenticated", False) else None
    row = db.session.get(SiteSetting, key)
    if row is None:
        try:
            with db.session.begin_nested():
                row = SiteSetting(key=key, value=value, updated_at=now, updated_by_id=who)
                db.session.add(row)
                db.session.flush()
            return row
        except IntegrityError:  # another request stored it in the meantime: overwrite theirs
            row = db.session.get(SiteSetting, key, populate_existing=True)
    row.value, row.updated_at, row.updated_by_id = value, now, who
    db.session.flush()
    return row
