"""The one way a Post row is written: `upsert_post` / `upsert_posts`, keyed by (account, the platform's post id).

Used by the collector's backfill (VK wall.get, source "backfill") and by the webhooks (Telegram channel_post,
VK wall_post_new, source "network"), and by posts published through the app ("app"): a platform post is never
stored twice. On a second sighting the given fields are updated — metrics only when the platform gave them (None
never erases a figure), and the first `source` is kept (a post first seen by a webhook stays "network").
One INSERT … ON CONFLICT DO UPDATE, safe when the collector and a webhook meet (PostgreSQL and SQLite).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func

from app.extensions import db
from app.models import Post
from app.models.base import insert_or_ignore, utcnow

SOURCES = ("network", "backfill", "app")
METRICS = ("views", "reactions", "comments", "reposts")
FIELDS = ("published_at", "edited_at", "text", "permalink", "media_count", *METRICS, "metrics_at")
EXTERNAL_ID_MAX = 64
TEXT_MAX = 20_000


def _row(account_id: int, external_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - set(FIELDS) - {"source"}
    if unknown:
        raise TypeError(f"upsert_post: unknown fields {sorted(unknown)}")
    external_id = str(external_id).strip()
    if not external_id or len(external_id) > EXTERNAL_ID_MAX:
        raise ValueError(f"a post id of 1–{EXTERNAL_ID_MAX} characters, not {external_id[:80]!r}")
    source = fields.get("source") or "network"
    if source not in SOURCES:
        raise ValueError(f"source is one of {SOURCES}")
    row = {"account_id": account_id, "external_id": external_id, "source": source}
    for key in FIELDS:
        if key in fields:
            row[key] = fields[key]
    row["text"] = str(row.get("text") or "")[:TEXT_MAX]
    if row.get("published_at") is None:
        row["published_at"] = utcnow()
    for key in (*METRICS, "media_count"):
        if row.get(key) is not None:
            row[key] = max(0, int(row[key]))
    if any(row.get(k) is not None for k in METRICS) and row.get("metrics_at") is None:
        row["metrics_at"] = utcnow()
    if row.get("media_count") is None:
        row["media_count"] = 0
    row.setdefault("created_at", utcnow())
    return row


def _statement(keys: set[str]):
    stmt = insert_or_ignore(Post)
    new = stmt.excluded
    update: dict[str, Any] = {}
    for key in sorted(keys - {"account_id", "external_id", "source", "created_at", "published_at"}):
        column = getattr(Post, key)
        if key in (*METRICS, "metrics_at", "edited_at", "permalink"):
            update[key] = func.coalesce(getattr(new, key), column)  # None never erases what we know
        elif key == "text":
            update[key] = func.coalesce(func.nullif(new.text, ""), column)
        else:
            update[key] = getattr(new, key)
    return stmt.on_conflict_do_update(index_elements=["account_id", "external_id"], set_=update)


def upsert_many(posts: list[dict[str, Any]]) -> int:
    """Insert or update posts of any accounts: each dict has `account_id`, `external_id` and any of FIELDS (+
    source). One statement executed for all rows (PostgreSQL batches them). Returns how many rows were written.
    The caller commits."""
    rows: dict[tuple[int, str], dict] = {}
    for post in posts:
        fields = dict(post)
        row = _row(int(fields.pop("account_id")), fields.pop("external_id"), fields)
        rows[(row["account_id"], row["external_id"])] = row  # one row per post (a batch must not repeat one)
    if not rows:
        return 0
    keys = set().union(*(r.keys() for r in rows.values()))
    for row in rows.values():  # one statement needs the same columns in every row
        for key in keys - row.keys():
            row[key] = None
    db.session.execute(_statement(keys), list(rows.values()))
    return len(rows)


def upsert_posts(account_id: int, posts: list[dict[str, Any]]) -> int:
    """upsert_many for the posts of one account."""
    return upsert_many([{**post, "account_id": account_id} for post in posts])


def upsert_post(account_id: int, external_id: str, **fields: Any) -> int:
    """Insert or update one post: `upsert_post(account.id, "15", published_at=…, text=…, permalink=…,
    media_count=…, views=…, reactions=…, comments=…, reposts=…, source="network")`. Returns its id. The caller
    commits."""
    upsert_posts(account_id, [{"external_id": external_id, **fields}])
    return db.session.scalar(db.select(Post.id).where(Post.account_id == account_id,
                                                      Post.external_id == str(external_id).strip()))


def seen_since(account_id: int, since: datetime | None) -> int:
    """The account's posts published since it was connected (where no API gives a post total)."""
    query = db.select(func.count(Post.id)).where(Post.account_id == account_id)
    if since is not None:
        query = query.where(Post.published_at >= since)
    return db.session.scalar(query) or 0
