"""The learned router's models (issue 15): one row a trained model per target, the current one marked. The blob is
an .npz read without pickle (app/services/routing_model/model.py)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.base import UTCDateTime, utcnow

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
