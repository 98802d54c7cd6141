"""Directions, participant institutions, their network accounts and account statistics."""
from __future__ import annotations

import re
import secrets
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, and_, event
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

NETWORKS = ("telegram", "vk", "ok", "max")
NETWORK_LABELS = {
    "telegram": "Telegram",
    "vk": _l("ВКонтакте"),
    "ok": _l("Одноклассники"),
    "max": "MAX",
    "web": _l("Веб-форма"),
    "api": "API",
    "other": _l("Другая сеть"),
    "import": _l("Импорт истории"),  # past appeals loaded by `flask tickets import`
}
# A participant's account: the four networks we collect from, or a plain link to another network (no statistics).
ACCOUNT_NETWORKS = (*NETWORKS, "other")


_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
                      "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))


def slugify(text: str, limit: int = 60) -> str:
    """«МБОУ СОШ № 3» → "mbou-sosh-3": Latin letters, digits and hyphens (the participant's public address)."""
    latin = "".join(_TRANSLIT.get(ch, ch) for ch in (text or "").lower())
    return re.sub(r"[^a-z0-9]+", "-", latin).strip("-")[:limit].strip("-")


def new_feedback_code() -> str:
    """A participant's deep-link code: short, unguessable enough, valid in t.me ?start= and vk.me ?ref=."""
    return secrets.token_urlsafe(6).replace("-", "x").replace("_", "y").lower()


class Direction(db.Model):
    __tablename__ = "directions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    sort_order: Mapped[int] = mapped_column(default=0)

    institutions: Mapped[list["Institution"]] = relationship(back_populates="direction")

    def __repr__(self) -> str:
        return f"<Direction {self.code}>"


class Institution(db.Model):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    direction_id: Mapped[int] = mapped_column(ForeignKey("directions.id"), index=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    short_name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(String(300))
    phone: Mapped[str | None] = mapped_column(String(60))
    # "09:00-13:00,14:00-18:00" or "24x7"; NULL: the city default (BUSINESS_HOURS)
    business_hours: Mapped[str | None] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # --- the participant of «Открытый муниципалитет» (public directory, issue 12) ---
    slug: Mapped[str] = mapped_column(String(80), unique=True)  # /participants/<slug>
    # False: publishes in the project but is never sent residents' appeals (a shop in «бизнес»).
    receives_appeals: Mapped[bool] = mapped_column(default=True, server_default="1")
    site: Mapped[str | None] = mapped_column(String(300))
    # The logo in UPLOAD_DIR (relative path) and the type recorded when it was checked at upload.
    logo_path: Mapped[str | None] = mapped_column(String(200))
    logo_type: Mapped[str | None] = mapped_column(String(40))
    # The SM-specialist: staff only, never on a public page or in the open API.
    smm_name: Mapped[str | None] = mapped_column(String(200))
    smm_contacts: Mapped[str | None] = mapped_column(String(300))
    # The participant's own code in deep links and QR codes (t.me/<bot>?start=<code>, /appeal?p=<code>).
    feedback_code: Mapped[str | None] = mapped_column(String(32), unique=True, default=new_feedback_code)
    # Its public page shows how it answers residents (counted appeals only).
    public_feedback: Mapped[bool] = mapped_column(default=True, server_default="1")
    # Cross-posting (issue 13): its SM-specialist's posts wait for the press service's approval.
    posts_need_approval: Mapped[bool] = mapped_column(default=False, server_default="0")

    direction: Mapped[Direction] = relationship(back_populates="institutions")
    accounts: Mapped[list["Account"]] = relationship(back_populates="institution")

    def __repr__(self) -> str:
        return f"<Institution {self.short_name}>"


@event.listens_for(Institution, "before_insert")
def _default_slug(mapper, connection, target: Institution) -> None:
    """A participant created without a slug gets one from its short name; a taken one gets a suffix."""
    if target.slug:
        return
    base = slugify(target.short_name or target.name or "") or "uchastnik"
    slug, table = base, Institution.__table__
    while connection.scalar(table.select().with_only_columns(table.c.id).where(table.c.slug == slug).limit(1)):
        slug = f"{base[:52]}-{secrets.token_hex(3)}"
    target.slug = slug


class Account(db.Model):
    """A participant's account in a network. `followers` / `posts` are the latest collected figures (the
    history is in AccountSnapshot, one row a day). Tokens and secrets are stored encrypted (services/secretbox)
    and never shown again after entry."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("network", "handle"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    network: Mapped[str] = mapped_column(String(20))  # ACCOUNT_NETWORKS
    handle: Mapped[str] = mapped_column(String(120))
    external_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(300))
    followers: Mapped[int] = mapped_column(default=0)
    posts: Mapped[int] = mapped_column(default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    label: Mapped[str | None] = mapped_column(String(60))  # "other": the network's name (Дзен, RuTube…)
    # The avatar in UPLOAD_DIR (relative path) and its checked type; public pages serve it from the app.
    avatar_path: Mapped[str | None] = mapped_column(String(200))
    avatar_type: Mapped[str | None] = mapped_column(String(40))
    # "api": `posts` is the platform's total; "seen": the posts we have seen since `connected_at` (no API total).
    posts_source: Mapped[str] = mapped_column(String(10), default="api", server_default="api")
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    # Collection: the last success, the last failure with the platform's reason, since when it fails.
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collect_error: Mapped[str | None] = mapped_column(String(500))
    collect_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Credentials of this community (VK community token, Callback secret and confirmation code; OK group
    # token; a VK user token for photo posts), encrypted at rest; what the token may do, as checked when saved.
    token_enc: Mapped[str | None] = mapped_column(Text)
    user_token_enc: Mapped[str | None] = mapped_column(Text)
    secret_enc: Mapped[str | None] = mapped_column(Text)
    confirmation_code: Mapped[str | None] = mapped_column(String(64))
    token_rights: Mapped[str | None] = mapped_column(String(500))
    token_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # May the app publish here (issue 13)? As last checked with the platform: True / False / None (not checked);
    # `publish_reason`: why not, or what is limited (a VK community token posts text only), in Russian.
    publish_ok: Mapped[bool | None] = mapped_column()
    publish_photos_ok: Mapped[bool | None] = mapped_column()
    publish_reason: Mapped[str | None] = mapped_column(String(500))
    publish_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Who owns the channel is not proven by the city's bot administering it: an account an SM-specialist adds
    # waits for the press service's confirmation (None) before the app publishes to it. Accounts made outside the
    # staff pages (the demo seed, the CLI, tests) are confirmed by default; registry.add sets it explicitly.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    institution: Mapped[Institution] = relationship(back_populates="accounts")
    snapshots: Mapped[list["AccountSnapshot"]] = relationship(back_populates="account")

    @classmethod
    def shown(cls):
        """Active and not waiting for the press service's confirmation (an account an smm added proves no
        ownership until then): what the public pages, the QR codes and the rating count."""
        return and_(cls.is_active.is_(True), cls.confirmed_at.isnot(None))


class AccountSnapshot(db.Model):
    __tablename__ = "account_snapshots"
    # by day: the public directory reads one day's snapshots of every account (growth over 30 days)
    __table_args__ = (UniqueConstraint("account_id", "taken_on"), Index("ix_account_snapshots_taken_on", "taken_on"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    taken_on: Mapped[date]  # the city-time day; a second collection the same day updates the row
    followers: Mapped[int]
    posts: Mapped[int]
    collected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(10), default="collector", server_default="collector")  # | import

    account: Mapped[Account] = relationship(back_populates="snapshots")


class Post(db.Model):
    """A publication of a participant's account: seen as it came (Telegram channel_post, VK wall_post_new…),
    found by a backfill, or published through the app; one row per (account, platform post id).
    Metrics are None where the platform gives none (Telegram's Bot API has no views)."""

    __tablename__ = "posts"
    # The directory reads only posts not deleted: both indexes leave deleted posts out (partial), so its counts
    # stay index-only reads.
    __table_args__ = (UniqueConstraint("account_id", "external_id"),
                      Index("ix_posts_account_published", "account_id", "published_at",
                            postgresql_where=sql_text("deleted_at IS NULL"), sqlite_where=sql_text("deleted_at IS NULL")),
                      Index("ix_posts_published", "published_at",
                            postgresql_where=sql_text("deleted_at IS NULL"), sqlite_where=sql_text("deleted_at IS NULL")))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    external_id: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text, default="")
    permalink: Mapped[str | None] = mapped_column(Text)
    media_count: Mapped[int] = mapped_column(default=0, server_default="0")
    views: Mapped[int | None]
    reactions: Mapped[int | None]
    comments: Mapped[int | None]
    reposts: Mapped[int | None]
    metrics_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(10), default="network", server_default="network")  # |backfill|app
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Deleted on the platform through the app («удалить во всех аккаунтах»): kept (residents' comments link to it)
    # but no longer counted or listed anywhere.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship()

    @classmethod
    def live(cls):
        """The condition every count and list of posts uses (and the partial indexes match)."""
        return cls.deleted_at.is_(None)

