"""The learned router's models (issue 15): one row a trained model per target, the current one marked. The blob is
an .npz read without pickle (app/services/routing_model/model.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.base import UTCDateTime, utcnow
from app.models.org import Institution
from app.models.ticket import Category

ROUTING_TARGETS = ("category", "institution")


class RoutingModel(db.Model):
    __tablename__ = "routing_models"
    __table_args__ = (
        Index("ix_routing_models_target_version", "target", "version", unique=True),
        # one current model a target
        Index("ux_routing_models_current", "target", unique=True, postgresql_where=text("is_current"),
              sqlite_where=text("is_current")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(20))  # category | institution
    version: Mapped[int]
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    n_train: Mapped[int]
    scores: Mapped[dict] = mapped_column(JSON, default=dict)  # the evaluation report of this target
    threshold: Mapped[float] = mapped_column(Float)  # auto-route when the top probability reaches it
    blob: Mapped[bytes] = mapped_column(LargeBinary)
    is_current: Mapped[bool] = mapped_column(default=False)


class RoutingRule(db.Model):
    """An admin's explicit override (issue 15): when a text says one of the pattern's words or phrases (one a
    line, matched as whole words or word beginnings like the rubrics' keywords), the ticket goes to the rule's
    rubric and/or institution before the model is asked. The first active rule by id wins
    (app/services/routing_rules.py)."""

    __tablename__ = "routing_rules"
    __table_args__ = (
        CheckConstraint("category_id IS NOT NULL OR institution_id IS NOT NULL", name="target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    pattern: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(default=True, server_default="true")
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    category: Mapped[Category | None] = relationship()
    institution: Mapped[Institution | None] = relationship()
