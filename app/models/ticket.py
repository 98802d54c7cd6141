"""Tickets (обращения) and everything that hangs off them."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint, and_, or_
from sqlalchemy import text as sql_text
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.channels.content import map_url
from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.org import Account, Direction, Institution, Post
from app.models.people import Resident, User

# --- vocabulary -------------------------------------------------------------------------------
STATUS_LABELS = {
    "new": _l("Новое"),
    "assigned": _l("Передано исполнителю"),
    "in_progress": _l("В работе"),
    "waiting_resident": _l("Ждёт ответа жителя"),
    "resolved": _l("Решено"),
    "closed": _l("Закрыто"),
    "rejected": _l("Отклонено"),
    "merged": _l("Объединено"),
}
STATUSES = tuple(STATUS_LABELS)
OPEN_STATUSES = ("new", "assigned", "in_progress", "waiting_resident")

REJECT_REASONS = {
    "spam": _l("Спам"),
    "off_topic": _l("Не по теме"),
    "thanks": _l("Благодарность"),
    "advertising": _l("Реклама"),
    "duplicate": _l("Повтор"),
    "other": _l("Другое"),
}

PRIORITY_LABELS = {"normal": _l("Обычный"), "urgent": _l("Срочный")}

# Legal regime of a ticket: a municipal local regulation (social networks) or Federal Law 59-ФЗ
# (an identified written appeal). The deadlines of each are in app/services/sla.py.
REGIME_LABELS = {"local": _l("Местный регламент"), "59fz": _l("59-ФЗ (письменное обращение)")}
REGIMES = tuple(REGIME_LABELS)

MESSAGE_KINDS = {"direct": _l("Личное сообщение"), "comment": _l("Комментарий"), "form": _l("Веб-форма"), "api": "API",
                 "import": _l("Импорт истории")}


class SlaPolicy(db.Model):
    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    first_response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
    business_hours: Mapped[bool] = mapped_column(default=True)  # False: 24×7
    warning_percent: Mapped[int] = mapped_column(default=75)


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    direction_id: Mapped[int | None] = mapped_column(ForeignKey("directions.id"))
    default_institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    sla_policy_id: Mapped[int] = mapped_column(ForeignKey("sla_policies.id"))
    keywords: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(default=True)

    direction: Mapped[Direction | None] = relationship()
    default_institution: Mapped[Institution | None] = relationship()
    sla_policy: Mapped[SlaPolicy] = relationship()


class TicketCounter(db.Model):
    """Last issued ticket number per year (row-locked when a number is taken)."""

    __tablename__ = "ticket_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Ticket(db.Model):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_created", "created_at", "id"),
        Index("ix_tickets_status_created", "status", "created_at", "id"),
        Index("ix_tickets_institution_status_created", "institution_id", "status", "created_at", "id"),
        Index("ix_tickets_category_created", "category_id", "created_at", "id"),
        Index("ix_tickets_network_created", "network", "created_at", "id"),
        Index("ix_tickets_due", "resolution_due_at", "id"),
        Index("ix_tickets_status_due", "status", "resolution_due_at", "id"),
        # an institution's overdue count (the workspace /my): an index-only range per open status (the paused
        # ones late when paused too: sla_paused_at is in the index)
        Index("ix_tickets_institution_status_due", "institution_id", "status", "resolution_due_at", "sla_paused_at"),
        Index("ix_tickets_resolved", "resolved_at"),  # the board: resolved in a period
        Index("ix_tickets_rated", "rated_at"),  # the board: ratings given in a period
        # Free-text search (ILIKE '%…%') on PostgreSQL: trigram indexes (pg_trgm).
        Index("ix_tickets_summary_trgm", "summary", postgresql_using="gin",
              postgresql_ops={"summary": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
        Index("ix_tickets_address_trgm", "address", postgresql_using="gin",
              postgresql_ops={"address": "gin_trgm_ops"}).ddl_if(dialect="postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True, info={"key": True})
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    network: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str | None] = mapped_column(String(300))
    # The place the resident sent (a location or a venue in a messenger): coordinates and its name/address.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    place_text: Mapped[str | None] = mapped_column(String(300))
    # The address found in the resident's words, matched against the city's street list (app/services/addresses.py).
    street_id: Mapped[int | None] = mapped_column(ForeignKey("streets.id", ondelete="SET NULL"), index=True)
    house: Mapped[str | None] = mapped_column(String(20))
    # The learned router's say at intake (app/services/intake/decide.py): {"category": [[id, p], …3],
    # "institution": [[id, p], …3], "category_sure": bool, "institution_sure": bool, "version": {target: n}}; None
    # when no model was stored then. The queue and the ticket page offer it for one-click accept.
    route_suggestion: Mapped[dict | None] = mapped_column(JSON)
    district: Mapped[str | None] = mapped_column(String(120))
    reject_reason: Mapped[str | None] = mapped_column(String(40))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    on_control: Mapped[bool] = mapped_column(default=False)
    rating: Mapped[int | None]  # the resident's last rating of the answer, 1-5
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verdict: Mapped[str | None] = mapped_column(String(10))  # «Проблема решена?»: yes | no
    verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopen_count: Mapped[int] = mapped_column(default=0, server_default="0")  # returned to work after a resolution
    regime: Mapped[str] = mapped_column(String(10), default="local", server_default="local")
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # 59-ФЗ: the one extension, when
    extension_reason: Mapped[str | None] = mapped_column(Text)
    # A new ticket from a network is acknowledged once its burst window has passed (services/intake.send_due_acks),
    # so the acknowledgement names the institution the burst's text routed it to; None: nothing pending.
    ack_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A city's past appeals loaded by `flask tickets import` (app/services/ticket_import.py): closed history, no
    # deadlines kept, never in SLA compliance; `import_key` (a hash of the file's id or of the row) makes a
    # re-run load nothing twice.
    imported: Mapped[bool] = mapped_column(default=False, server_default="0")
    import_key: Mapped[str | None] = mapped_column(String(64), info={"key": True})

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # «Скоро срок» moments, in working time on the ticket's calendar (app/services/sla.py keeps them in step
    # with the deadlines). None (rows older than them): the escalation sweep uses the calendar share.
    first_response_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sla_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    version: Mapped[int] = mapped_column(default=1)
    __mapper_args__ = {"version_id_col": version}

    category: Mapped[Category | None] = relationship()
    institution: Mapped[Institution | None] = relationship()
    resident: Mapped[Resident | None] = relationship()
    account: Mapped[Account | None] = relationship()
    duplicate_of: Mapped["Ticket | None"] = relationship(remote_side="Ticket.id")
    messages: Mapped[list["Message"]] = relationship(back_populates="ticket", order_by="Message.received_at")
    events: Mapped[list["TicketEvent"]] = relationship(back_populates="ticket", order_by="TicketEvent.id")
    replies: Mapped[list["Reply"]] = relationship(back_populates="ticket", order_by="Reply.id")
    # Each resident's answer to «Проблема решена?» (its own resident's is also in the columns above).
    answers: Mapped[list["VerdictAnswer"]] = relationship(order_by="VerdictAnswer.id", viewonly=True)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def regime_label(self) -> str:
        return REGIME_LABELS.get(self.regime, self.regime)

    @property
    def map_url(self) -> str | None:
        """A map with the resident's pin, when they sent a place."""
        if self.latitude is None or self.longitude is None:
            return None
        return map_url(self.latitude, self.longitude)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    # "Overdue" is defined once, for Python and for SQL: open and past the resolution deadline;
    # a ticket waiting for the resident has its clock stopped, unless it was already late when paused.
    @hybrid_method
    def is_overdue(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        if self.status == "waiting_resident":
            return self.sla_paused_at is not None and self.sla_paused_at > self.resolution_due_at
        return self.status in OPEN_STATUSES and self.resolution_due_at < now

    @is_overdue.expression
    def is_overdue(cls, now: datetime | None = None):
        now = utcnow() if now is None else now  # `now` may be a bound parameter (a statement built once)
        running = [s for s in OPEN_STATUSES if s != "waiting_resident"]
        return or_(and_(cls.status.in_(running), cls.resolution_due_at < now),
                   and_(cls.status == "waiting_resident", cls.sla_paused_at > cls.resolution_due_at))

    def __repr__(self) -> str:
        return f"<Ticket {self.number} {self.status}>"


class Message(db.Model):
    """A raw inbound item from a network, the web form or the API. Never edited in place, never lost."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("network", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(128), info={"key": True})
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    # The participant's publication this comment answers (ticket page: «комментарий к публикации «…»»).
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    permalink: Mapped[str | None] = mapped_column(Text)  # a network's link, of any length
    thread_key: Mapped[str | None] = mapped_column(String(200), info={"key": True})
    reply_to_external_id: Mapped[str | None] = mapped_column(String(128), info={"key": True})
    raw: Mapped[dict] = mapped_column(JSON, default=dict)
    # Where a reply to this message goes (chat, thread, comment…), as the network's adapter needs it.
    reply_address: Mapped[dict] = mapped_column(JSON, default=dict, server_default=sql_text("'{}'"))
    edit_of_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    noise_reason: Mapped[str | None] = mapped_column(String(40))  # set: «не обращение», kept out of the queue
    command: Mapped[str | None] = mapped_column(String(20))  # start | status: a bot command, not an appeal
    command_arg: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account | None] = relationship()
    post: Mapped[Post | None] = relationship()
    resident: Mapped[Resident | None] = relationship()
    ticket: Mapped[Ticket | None] = relationship(back_populates="messages")


# The board's «возвращены жителями»: the few open tickets a resident reopened, most reopened first; with the
# institution, an institution's or direction's count is index-only too (not a BitmapAnd with the institution's
# every ticket: 8-28 ms at 1 M tickets)
_REOPENED_OPEN = sql_text("reopen_count > 0 AND status IN ('new', 'assigned', 'in_progress', 'waiting_resident')")
Index("ix_tickets_reopened_open", Ticket.reopen_count.desc(), Ticket.updated_at.desc(), Ticket.institution_id,
      postgresql_where=_REOPENED_OPEN, sqlite_where=_REOPENED_OPEN)
# the board's low ratings (worklist and its count) as index-only ranges: the latest of each low value read backwards
# from the period's end, the count of a period with the scope's institution checked in the index
Index("ix_tickets_low_rated", Ticket.rated_at, Ticket.rating, Ticket.id, Ticket.institution_id,
      postgresql_where=sql_text("rating <= 2"), sqlite_where=sql_text("rating <= 2"))
# the executor's /my: this month's resolved of an institution and how many on time, index-only (ix_tickets_resolved
# read every institution's resolved of the month through the heap: ≈ 14,000 rows at a month's end at 1 M tickets)
_RESOLVED = sql_text("resolved_at IS NOT NULL AND imported IS false")
Index("ix_tickets_institution_resolved", Ticket.institution_id, Ticket.resolved_at, Ticket.resolution_due_at,
      postgresql_where=_RESOLVED, sqlite_where=_RESOLVED)
# the executor's /my: the institution's open tickets, nearest deadline first — the first page read in the index's
# order (not every institution's tickets walked by deadline, nor the institution's every open ticket sorted)
_OPEN = sql_text("status IN ('new', 'assigned', 'in_progress', 'waiting_resident')")
Index("ix_tickets_institution_open_due", Ticket.institution_id, Ticket.resolution_due_at, Ticket.id,
      postgresql_where=_OPEN, sqlite_where=_OPEN)
Index("ix_messages_resident_thread", Message.resident_id, Message.thread_key)  # "same resident, same thread"
Index("ix_messages_thread", Message.thread_key, Message.id)  # the account of a thread
Index("ix_messages_network_received", Message.network, Message.received_at)  # web form limits, 24 h counts
Index("ix_messages_untriaged", Message.id, postgresql_where=Message.triaged_at.is_(None),
      sqlite_where=Message.triaged_at.is_(None))


Index("ix_tickets_import_key", Ticket.import_key, unique=True, postgresql_where=Ticket.import_key.isnot(None),
      sqlite_where=Ticket.import_key.isnot(None))
Index("ix_tickets_ack_due", Ticket.ack_due_at, postgresql_where=Ticket.ack_due_at.isnot(None),
      sqlite_where=Ticket.ack_due_at.isnot(None))


class VerdictAnswer(db.Model):
    """One resident's answer to «Проблема решена?» of a ticket: every resident of a ticket and of the tickets
    merged into it answers for themselves. The latest verdict and rating of each, with their times (an answer
    belongs to the current resolution when its time is not before the ticket's `resolved_at`). The ticket's own
    columns (verdict, rating…) keep its own resident's answer, as before; the board counts every answer."""

    __tablename__ = "verdict_answers"
    __table_args__ = (UniqueConstraint("ticket_id", "resident_id"),
                      Index("ix_verdict_answers_rated", "rated_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    verdict: Mapped[str | None] = mapped_column(String(10))  # yes | no
    verdict_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating: Mapped[int | None]
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    ticket: Mapped[Ticket] = relationship()
    resident: Mapped[Resident] = relationship()


class IntakeRejection(db.Model):
    """A webhook/API request we could not take (malformed, unknown), kept with its raw body for the admin."""

    __tablename__ = "intake_rejections"

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RefusedRequest(db.Model):
    """How many unauthenticated requests (wrong or missing secret or token) each webhook and the API refused
    per day. Only a count: nothing an unauthenticated sender wrote is stored."""

    __tablename__ = "refused_requests"

    network: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketEvent(db.Model):
    """Append-only timeline and audit trail of a ticket."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)

    ticket: Mapped[Ticket] = relationship(back_populates="events")
    actor_user: Mapped[User | None] = relationship()
    actor_resident: Mapped[Resident | None] = relationship()


class Reply(db.Model):
    """Outbox row: one outbound message, delivered by a job (app/services/replies.py): a reply to a resident,
    or a staff member's notification pushed to their Telegram (`notification_id`, no ticket, `address` set).

    States: pending → sending (committed before each platform call) → sent; failed (retrying cannot help);
    unconfirmed (the worker died between the platform call and our commit on a network that cannot dedupe a
    repeated send: shown on the ticket with «отправить ещё раз»). `parts`: the platform ids of the parts
    already accepted (a long text goes as several messages; a part accepted is never sent again)."""

    __tablename__ = "replies"
    __table_args__ = (Index("ix_replies_state_created", "state", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)  # None: a bot answer
    in_reply_to_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    network: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20), default="staff")  # ack | assigned | resolved | staff | bot | push
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="pending")  # pending|sending|sent|failed|unconfirmed
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(128), info={"key": True})  # the first part's id
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # also: a staff push held until then
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when the current platform call began
    # Buttons under the message, rows of (label, payload): «Проблема решена?» Да / Нет, ratings 1-5.
    buttons: Mapped[list] = mapped_column(JSON, default=list, server_default=sql_text("'[]'"))
    # Where to send when it is not an answer to a resident's message (a staff chat): {"chat_id": …}.
    address: Mapped[dict | None] = mapped_column(JSON)
    parts: Mapped[list] = mapped_column(JSON, default=list, server_default=sql_text("'[]'"))

    ticket: Mapped[Ticket | None] = relationship(back_populates="replies")
    author: Mapped[User | None] = relationship()
    in_reply_to: Mapped["Message | None"] = relationship()
