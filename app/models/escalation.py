"""Escalation facts (SLA warning / breach, each recorded once) and in-app notifications."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.people import User
from app.models.ticket import Ticket

SLA_MARK_KINDS = {
    "first_response_warning": _l("Скоро срок первого ответа"),
    "first_response_breach": _l("Просрочен первый ответ"),
    "resolution_warning": _l("Скоро срок решения"),
    "resolution_breach": _l("Просрочено решение"),
}


class SlaMark(db.Model):
    """One escalation fact: this ticket crossed this threshold of this deadline.
    The unique key makes the fact recorded once however many sweeps run; a moved deadline is a new fact."""

    __tablename__ = "sla_marks"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", "deadline_at", name="uq_sla_marks_ticket_kind_deadline"),
                      Index("ix_sla_marks_kind_ticket", "kind", "ticket_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(30))
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket] = relationship()


class Notification(db.Model):
    """A message to one staff user, shown on /notifications."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    control_order_id: Mapped[int | None] = mapped_column(ForeignKey("control_orders.id"))
    publication_id: Mapped[int | None] = mapped_column(ForeignKey("publications.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # pushed to the user's Telegram

    user: Mapped[User] = relationship()
    ticket: Mapped[Ticket | None] = relationship()
