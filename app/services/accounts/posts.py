"""The participants' posts (content accounting): one row per (account, platform post id), whatever brought it.

Posts come from the networks' webhooks (Telegram `channel_post` / `edited_channel_post`, VK `wall_post_new`, a MAX
channel's messages: `store()`), from the comments residents write under them (`link_comment()`: the post a comment
answers), from collection (backfill, metrics) and, next, from publishing through the app. Every way goes through
`upsert_post()`, keyed by the platform's post id, so a post the app published that comes back as `channel_post` /
`wall_post_new` updates its row and is never stored twice, and a platform re-delivering an update changes nothing.

The platform post id (`Post.external_id`) per network: Telegram the channel message id ("512"; an album
"album:<media_group_id>"), VK the wall post id ("3071", on the wall of -group_id), MAX the message's `body.mid`,
OK the topic id.

Counting (`Account.posts`): where the platform gives a total (VK, OK: `posts_source` "api") collection sets it.
Where it gives none (Telegram, MAX: "seen") the count is the posts seen since the account was connected
(`published_at` ≥ `connected_at`): a new row adds one at once (`_seen`), and `seen_count()` is the same figure
computed from the rows (what collection records).
"""
from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select, update

from app.channels.base import IncomingPost
from app.channels.clean import clean_post
from app.extensions import db
from app.models import Account, Delivery, Post, utcnow
from app.models.base import fit_key, insert_or_ignore

log = logging.getLogger(__name__)

FIELDS = frozenset({"published_at", "edited_at", "text", "permalink", "media_count", "views", "reactions",
                    "comments", "reposts", "metrics_at", "source"})
METRICS = ("views", "reactions", "comments", "reposts")
SOURCES = ("network", "backfill", "app")
INSERT_ONLY = ("source",)  # how a post first reached us stays (an app-published post stays "app")
PUBLIC_HOSTS = {"telegram": ("t.me", "telegram.me")}  # an account's address by its public name
TEXT_MAX = 20_000  # a post's text kept (VK allows 16,384; Telegram 4,096)


def _external_id(value: str) -> str:
    """A post id as stored: an id longer than the column keeps a prefix and ends with its SHA-256 (the models'
    key rule), so lookups of the same id find it."""
    return fit_key(str(value), Post.__table__.c.external_id.type.length)


def upsert_post(account_id: int, external_id: str, **fields) -> tuple[int, bool]:
    """Insert the post, or update the row of (account_id, external_id). Returns (post id, created).

    Only the fields given (and not None) are written: None means "not told" (a comment names its post without
    its text; Telegram gives no views). On an update:
    - `source` is kept (it says how the post first reached us);
    - `published_at` only moves earlier (a post first known from a comment had the comment's time);
    - `text` is not overwritten by an older version: a row edited at T keeps its text against a version not
      edited, or edited before T (a re-delivered `channel_post` after its `edited_channel_post`);
    - `edited_at` only moves later; `metrics_at` is set when any metric is given.
    Safe under concurrency on PostgreSQL: INSERT … ON CONFLICT DO NOTHING, then UPDATE of the existing row.
    The caller commits."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"unknown post fields: {sorted(unknown)}")
    if fields.get("source") is not None and fields["source"] not in SOURCES:
        raise ValueError(f"unknown post source {fields['source']!r}")
    now = utcnow()
    given = {k: v for k, v in fields.items() if v is not None}
    if any(k in given for k in METRICS) and "metrics_at" not in given:
        given["metrics_at"] = now
    key = _external_id(external_id)
    values = {"account_id": account_id, "external_id": key, "created_at": now, "text": "", "media_count": 0,
              "source": "network", **given}
    values.setdefault("published_at", now)
    stmt = (insert_or_ignore(Post).values(**values)
            .on_conflict_do_nothing(index_elements=["account_id", "external_id"]).returning(Post.id))
    pid = db.session.execute(stmt).scalar()
    if pid is not None:
        return pid, True
    changes = {k: v for k, v in given.items() if k not in INSERT_ONLY}
    edited = changes.get("edited_at")
    if "text" in changes:
        newer = Post.edited_at.isnot(None) if edited is None else Post.edited_at > edited
        changes["text"] = case((newer, Post.text), else_=changes["text"])
    if edited is not None:
        changes["edited_at"] = case((or_(Post.edited_at.is_(None), Post.edited_at < edited), edited),
                                    else_=Post.edited_at)
    if "published_at" in changes:
        changes["published_at"] = case((Post.published_at > changes["published_at"], changes["published_at"]),
                                       else_=Post.published_at)
    where = (Post.account_id == account_id, Post.external_id == key)
    if not changes:
        return db.session.scalar(select(Post.id).where(*where)), False
    pid = db.session.execute(update(Post).where(*where).values(**changes).returning(Post.id)
                             .execution_options(synchronize_session=False)).scalar()
    return pid, False


# --- which account -----------------------------------------------------------------------------------------
def find_account(network: str, ref: str | None, handle: str | None = None) -> Account | None:
    """The participant's account a post belongs to: by the network's id (Account.external_id: the channel's chat
    id, the VK group id…), else by its public name (Telegram @username = Account.handle, or its address
    t.me/<name>), whose account then learns its id. None: not an account of ours."""
    if ref:
        found = db.session.scalar(select(Account).where(Account.network == network,
                                                        Account.external_id == str(ref)).order_by(Account.id).limit(1))
        if found is not None:
            return found
    name = (handle or "").strip().lstrip("@").lower()
    if name:
        addresses = [f"{scheme}{host}/{name}" for scheme in ("https://", "http://", "")
                     for host in PUBLIC_HOSTS.get(network, ())]
        found = db.session.scalar(select(Account).where(
            Account.network == network, or_(func.lower(Account.handle).in_([name, f"@{name}"]),
                                            func.lower(func.rtrim(Account.url, "/")).in_(addresses)))
            .order_by(Account.id).limit(1))
        if found is not None:
            if not found.external_id and ref:
                found.external_id = str(ref)[:64]
            return found
    return None


def _seen(account: Account, published_at: datetime | None) -> None:
    """A new post of an account whose platform gives no total: one more post seen since it was connected."""
    if account.posts_source != "seen" or published_at is None:
        return
    if account.connected_at is not None and published_at < account.connected_at:
        return
    db.session.execute(update(Account).where(Account.id == account.id).values(posts=Account.posts + 1)
                       .execution_options(synchronize_session=False))


def seen_count(account_id: int) -> int:
    """The posts seen since the account was connected (Account.posts where posts_source is "seen")."""
    connected = db.session.scalar(select(Account.connected_at).where(Account.id == account_id))
    stmt = select(func.count()).select_from(Post).where(Post.account_id == account_id, Post.live())
    if connected is not None:
        stmt = stmt.where(Post.published_at >= connected)
    return int(db.session.scalar(stmt) or 0)


# --- from the webhooks ---------------------------------------------------------------------------------------
def _fields(post: IncomingPost, now: datetime) -> dict:
    return {"published_at": post.published_at or now, "edited_at": post.edited_at, "text": post.text,
            "permalink": post.permalink, "media_count": post.media_count, "views": post.views,
            "reactions": post.reactions, "comments": post.comments, "reposts": post.reposts}


_LAST_ID = re.compile(r"/(\d+)$")


def _album(account_id: int, post: IncomingPost, now: datetime) -> tuple[int, bool]:
    """One item of a Telegram album: the album is one post, linked to its first item, with first…last items as
    its media (items of one album have consecutive message ids; any order of delivery, any repeat, gives the same
    row)."""
    fields = _fields(post, now)
    fields["media_count"] = 1
    pid, created = upsert_post(account_id, post.external_id, **{k: v for k, v in fields.items()
                                                                 if k in ("published_at", "edited_at", "text")})
    row = db.session.get(Post, pid, with_for_update=True, populate_existing=True)
    if created or row.permalink is None or not _LAST_ID.search(row.permalink or ""):
        row.permalink, row.media_count = post.permalink, 1
        return pid, created
    first = int(_LAST_ID.search(row.permalink).group(1))
    last = first + max(row.media_count or 1, 1) - 1
    item = int(post.album_item)
    new_first, new_last = min(first, item), max(last, item)
    if new_first != first and post.permalink:
        row.permalink = post.permalink
    row.media_count = new_last - new_first + 1
    return pid, created


def store(posts: list[IncomingPost], now: datetime | None = None) -> list[int]:
    """Store the participants' publications a webhook brought. A post of an account we do not know is left out
    (logged): never an appeal, never an error. Returns the ids of the rows written. The caller commits."""
    now = now or utcnow()
    ids = []
    for post in posts:
        clean_post(post)
        account = find_account(post.network, post.account_ref, post.account_handle)
        if account is None:
            log.info("%s: post %s of %s (%s) is not of an account of ours: not stored", post.network,
                     post.external_id, post.account_ref, post.account_handle or "")
            continue
        if post.album_item is not None:
            pid, created = _album(account.id, post, now)
        else:
            pid, created = upsert_post(account.id, post.external_id, **_fields(post, now))
        if created:
            _seen(account, post.published_at or now)
        ids.append(pid)
    return ids


def link_comment(post: IncomingPost | None, when: datetime | None = None) -> int | None:
    """The post a resident's comment answers (Message.post_id). A post not stored yet is stored from what the
    comment tells (its id and link; on Telegram also its text, date and media, from the copy the comment
    answers; a VK comment gives no post date: the comment's time stands until the post or collection brings
    it). None when the comment names no post, or the post is not of an account of ours. The caller commits."""
    if post is None:
        return None
    clean_post(post)
    account = find_account(post.network, post.account_ref, post.account_handle)
    if account is None:
        return None
    now = utcnow()
    part_of = _published_in_parts(account.id, post.external_id)
    if part_of is not None:
        return part_of
    fields = _fields(post, when or now)
    pid, created = upsert_post(account.id, post.external_id, **fields)
    if created:
        _seen(account, fields["published_at"])
    return pid


APP_COPIES_SCANNED = 500  # the account's latest copies published by the app looked through for a later part


def _published_in_parts(account_id: int, external_id: str) -> int | None:
    """The Post of a copy the app published in several messages (Telegram: an album, then its long text as a
    message of its own) when `external_id` is one of its later messages: residents comment under either, and the
    accounting has one row per copy (the first message's). None when a post of that id is stored, or no copy has
    it."""
    key = _external_id(str(external_id).strip())
    if db.session.scalar(select(Post.id).where(Post.account_id == account_id, Post.external_id == key)) is not None:
        return None
    rows = db.session.execute(
        select(Delivery.post_id, Delivery.parts).where(Delivery.account_id == account_id, Delivery.post_id.isnot(None))
        .order_by(Delivery.id.desc()).limit(APP_COPIES_SCANNED))
    wanted = str(external_id).strip()
    for post_id, parts in rows:
        for part in parts or []:
            if isinstance(part, list) and wanted in (str(i) for i in part):
                return post_id
    return None


# --- many at once (collection's backfill: one statement for a batch of accounts) ---------------------------
# The same rules as upsert_post for what collection gives: the first `source` kept, `published_at` never moved,
# None never erases a figure, an empty text never erases a text.
def _bulk_row(account_id: int, external_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"unknown post fields: {sorted(unknown)}")
    external_id = _external_id(str(external_id).strip())
    if not external_id:
        raise ValueError("a post without its platform id")
    source = fields.get("source") or "network"
    if source not in SOURCES:
        raise ValueError(f"source is one of {SOURCES}")
    row = {"account_id": account_id, "external_id": external_id, "source": source}
    for key in sorted(FIELDS - {"source"}):
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


def _bulk_statement(keys: set[str]):
    stmt = insert_or_ignore(Post)
    new = stmt.excluded
    changes: dict[str, Any] = {}
    for key in sorted(keys - {"account_id", "external_id", "source", "created_at", "published_at"}):
        column = getattr(Post, key)
        if key in (*METRICS, "metrics_at", "edited_at", "permalink"):
            changes[key] = func.coalesce(getattr(new, key), column)  # None never erases what we know
        elif key == "text":
            changes[key] = func.coalesce(func.nullif(new.text, ""), column)
        else:
            changes[key] = getattr(new, key)
    return stmt.on_conflict_do_update(index_elements=["account_id", "external_id"], set_=changes)


def upsert_many(posts: list[dict[str, Any]]) -> int:
    """Insert or update posts of any accounts: each dict has `account_id`, `external_id` and any of FIELDS (+
    source). One statement executed for all rows (PostgreSQL batches them). Returns how many rows were written.
    The caller commits."""
    rows: dict[tuple[int, str], dict] = {}
    for post in posts:
        fields = dict(post)
        row = _bulk_row(int(fields.pop("account_id")), fields.pop("external_id"), fields)
        rows[(row["account_id"], row["external_id"])] = row  # one row per post (a batch must not repeat one)
    if not rows:
        return 0
    keys = set().union(*(r.keys() for r in rows.values()))
    for row in rows.values():  # one statement needs the same columns in every row
        for key in keys - row.keys():
            row[key] = None
    db.session.execute(_bulk_statement(keys), list(rows.values()))
    return len(rows)


def upsert_posts(account_id: int, posts: list[dict[str, Any]]) -> int:
    """upsert_many for the posts of one account."""
    return upsert_many([{**post, "account_id": account_id} for post in posts])


def seen_since(account_id: int, since: datetime | None) -> int:
    """The account's posts published since it was connected (where no API gives a post total)."""
    query = db.select(func.count(Post.id)).where(Post.account_id == account_id, Post.live())
    if since is not None:
        query = query.where(Post.published_at >= since)
    return db.session.scalar(query) or 0
