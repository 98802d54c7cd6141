"""Cross-posting (issue 13): a composed post, its photos and one outbox row per (post, account).

Publication states (app/services/publishing/posts.py holds the transitions, nowhere else):
    draft → (awaiting_approval →) scheduled → publishing → done
    awaiting_approval → rejected (with a reason, back to the author; edited and sent again → awaiting_approval)
    draft | awaiting_approval | scheduled → cancelled (before anything went out)
    done / publishing → deleted (a delete applied to every copy where the platform allows it)
`scheduled_at` None means «now». The publication's state is the author's view; what happened on each account is
on its Delivery.

Delivery states (app/services/publishing/outbox.py holds the transitions):
    waiting (the publication is not yet approved / not yet due) → scheduled → sending (committed before each
    platform call) → published | failed | unconfirmed («не подтверждено»: a crash between the platform's
    acceptance and our commit on a network with no idempotency key; «отправить ещё раз» → scheduled)
    refused: the plan or the rights check said beforehand it cannot go (the reason in `last_error`)
    cancelled: the publication was cancelled before this row went out
    deleted: the copy was deleted on the platform
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.org import Account, Institution, Post
from app.models.people import User

PUBLICATION_STATES = ("draft", "awaiting_approval", "rejected", "scheduled", "publishing", "done", "cancelled",
                      "deleted")
DELIVERY_STATES = ("waiting", "scheduled", "sending", "published", "failed", "unconfirmed", "refused", "cancelled",
                   "deleted")


class Publication(db.Model):
    __tablename__ = "publications"
    # `key` is unique per author (two users may both use "weekly-1"); NULL keys never collide.
    __table_args__ = (Index("ix_publications_state_at", "state", "scheduled_at"),
                      Index("ix_publications_institution_at", "institution_id", "scheduled_at"),
                      UniqueConstraint("author_id", "key", name="uq_publications_author_key"))

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The participant the post speaks for (an smm user's own); None: the press service / an admin for the city.
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    text: Mapped[str] = mapped_column(Text, default="")
    link_preview: Mapped[bool] = mapped_column(default=True, server_default="1")
    state: Mapped[str] = mapped_column(String(20), default="draft")  # PUBLICATION_STATES
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: now
    # `flask posts publish --key`: the same key twice publishes nothing new (unique per author).
    key: Mapped[str | None] = mapped_column(String(120))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first copy went out
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # edited after publishing

    author: Mapped[User] = relationship(foreign_keys=[author_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    institution: Mapped[Institution | None] = relationship()
    photos: Mapped[list["PublicationPhoto"]] = relationship(back_populates="publication",
                                                            order_by="PublicationPhoto.position",
                                                            cascade="all, delete-orphan")
    deliveries: Mapped[list["Delivery"]] = relationship(back_populates="publication", order_by="Delivery.id",
                                                        cascade="all, delete-orphan")


class PublicationPhoto(db.Model):
    """A photo of a post, stored under UPLOAD_DIR/publications/<yyyy>/<mm>/<uuid>.<ext> (the storage residents'
    files use: shared by web and workers) with the type its bytes showed at upload."""

    __tablename__ = "publication_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    path: Mapped[str] = mapped_column(String(200))  # relative to UPLOAD_DIR
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(default=0)
    original_name: Mapped[str | None] = mapped_column(String(200))

    publication: Mapped[Publication] = relationship(back_populates="photos")


class Delivery(db.Model):
    """Outbox row: the post on one account. `parts`: the platform ids of the calls already accepted (a Telegram
    album then a text message; MAX a long text in several messages) — a part accepted is never sent again.
    `uploaded`: what was uploaded to the platform already (photo ids/tokens), so a retry does not upload again.
    `guid`: VK's idempotency key for wall.post (the same guid never posts twice)."""

    __tablename__ = "publication_deliveries"
    __table_args__ = (UniqueConstraint("publication_id", "account_id"),
                      Index("ix_publication_deliveries_state_next", "state", "next_attempt_at"),
                      Index("ix_publication_deliveries_account", "account_id", "published_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    publication_id: Mapped[int] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    network: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20), default="waiting")  # DELIVERY_STATES
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # due moment / retry-after
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the current platform call began
    last_error: Mapped[str | None] = mapped_column(Text)  # a Russian sentence naming the account and what to do
    guid: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(String(128))  # the platform's post id (the first part)
    permalink: Mapped[str | None] = mapped_column(Text)
    parts: Mapped[list] = mapped_column(JSON, default=list, server_default=sql_text("'[]'"))
    uploaded: Mapped[dict] = mapped_column(JSON, default=dict, server_default=sql_text("'{}'"))
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"))  # the content accounting's row
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Editing / deleting after publishing: what the platform said for this copy (None: applied or not asked).
    change_error: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    publication: Mapped[Publication] = relationship(back_populates="deliveries")
    account: Mapped[Account] = relationship()
    post: Mapped[Post | None] = relationship()
