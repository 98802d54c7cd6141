"""Shared column types and helpers for the models."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from app.extensions import db


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL keeps the zone (timestamptz); SQLite drops it, so values are
    normalised to UTC on the way in and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def insert_or_ignore(model):
    """INSERT … ON CONFLICT DO NOTHING for the session's database (PostgreSQL or SQLite)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


# --- values of any length into bounded columns ------------------------------------------------------------
# Networks send text of any length (names, links, thread ids, a "/status" followed by a whole complaint). A String(n)
# column of the tables intake writes takes such a value in one of two ways, chosen per column:
# * a key that identifies something (external ids, thread keys, hot-spot keys; `info={"key": True}`) keeps its
#   first characters and ends with «#» + the SHA-256 of the whole value (hex; up to 64 digits, half the column),
#   so two long keys sharing a prefix stay distinct and the same long key always maps to the same stored value
#   (lookups fit the value the same way);
# * any other text is cut to the column's length.
KEY_DIGEST = 64  # hex characters of SHA-256


def fit_key(value: str | None, length: int) -> str | None:
    """A key of any length as a value of at most `length` characters (unchanged when it fits)."""
    if value is None or len(value) <= length:
        return value
    import hashlib

    size = min(KEY_DIGEST, max(16, length // 2))  # a short column keeps a readable prefix too
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:size]
    return f"{value[:max(0, length - size - 1)]}#{digest}"[:length]


def bounded_columns(table) -> list:
    """The String(n) columns of a table (n set)."""
    from sqlalchemy import String

    return [c for c in table.columns if isinstance(c.type, String) and getattr(c.type, "length", None)]


_BOUNDED: dict = {}  # mapper → [(attribute, column)], built on first use


def fit_column(column, value):
    """`value` as the column can store it (see above); non-strings and values that fit are returned as they are."""
    length = getattr(column.type, "length", None)
    if not isinstance(value, str) or not length or len(value) <= length:
        return value
    return fit_key(value, length) if column.info.get("key") else value[:length]


def fit_values(model, values: dict) -> dict:
    """A dict of column values for an INSERT, every string fitted to its column (in place; returned)."""
    columns = model.__table__.columns
    for name, value in values.items():
        if name in columns:
            values[name] = fit_column(columns[name], value)
    return values


def fit_object(mapper, connection, target) -> None:
    """Mapper hook (before insert / update): fit the object's string attributes to their columns."""
    values = target.__dict__  # what was set or loaded: an expired attribute is not loaded inside the flush
    if mapper not in _BOUNDED:
        _BOUNDED[mapper] = [(mapper.get_property_by_column(c).key, c) for c in bounded_columns(mapper.local_table)]
    for attr, column in _BOUNDED[mapper]:
        value = values.get(attr)
        fitted = fit_column(column, value)
        if fitted is not value:
            setattr(target, attr, fitted)
