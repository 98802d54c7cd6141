"""Control orders (поручения) of the head of city on a ticket or a hot spot, and their own history."""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.org import Institution
from app.models.people import User
from app.models.ticket import Ticket

CONTROL_STATES = {
    "issued": _l("Выдано"),
    "in_progress": _l("Исполняется"),
    "reported": _l("Доложено об исполнении"),
    "done": _l("Исполнено"),
    "cancelled": _l("Снято с контроля"),
}
CONTROL_OPEN_STATES = ("issued", "in_progress", "reported")


class ControlOrder(db.Model):
    """An order (поручение) of the head of city on a ticket or a hot spot, with its own status and deadline."""

    __tablename__ = "control_orders"
    __table_args__ = (Index("ix_control_orders_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    hot_spot_id: Mapped[int | None] = mapped_column(ForeignKey("hot_spots.id"), index=True)
    topic: Mapped[str | None] = mapped_column(String(300))
    instruction: Mapped[str] = mapped_column(Text)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20), default="issued")  # a key of CONTROL_STATES
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    report: Mapped[str | None] = mapped_column(Text)  # the institution's report on what was done
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # late: the head was told (once)

    ticket: Mapped[Ticket | None] = relationship()
    institution: Mapped[Institution] = relationship()
    issued_by: Mapped[User | None] = relationship()
    events: Mapped[list["ControlOrderEvent"]] = relationship(back_populates="order", order_by="ControlOrderEvent.id")

    @property
    def state_label(self) -> str:
        return CONTROL_STATES.get(self.state, self.state)


class ControlOrderEvent(db.Model):
    """The order's own history (issued, accepted, reported, returned, done, cancelled, late)."""

    __tablename__ = "control_order_events"
    __table_args__ = (Index("ix_control_order_events_order", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("control_orders.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)

    order: Mapped[ControlOrder] = relationship(back_populates="events")
    actor_user: Mapped[User | None] = relationship()
