"""Admin views' data: network status, intake problems, keyword rules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select

from app.channels import ADAPTERS, get_adapter
from app.extensions import db
from app.models import NETWORK_LABELS, Category, Institution, IntakeRejection, Message, Reply, User, utcnow
from app.services.errors import NotAllowed, ValidationFailed


def ensure_admin(user: User) -> None:
    if not (user and user.is_authenticated and user.role == "admin"):
        raise NotAllowed("Раздел доступен только администратору")


@dataclass
class NetworkStatus:
    network: str
    label: str
    enabled: bool
    available: bool  # the adapter module is installed
    messages_24h: int
    rejections_24h: int
    failed_replies: int


def network_statuses() -> list[NetworkStatus]:
    since = utcnow() - timedelta(hours=24)
    msgs = dict(db.session.execute(select(Message.network, func.count(Message.id))
                                   .where(Message.received_at >= since).group_by(Message.network)).all())
    rejs = dict(db.session.execute(select(IntakeRejection.network, func.count(IntakeRejection.id))
                                   .where(IntakeRejection.received_at >= since)
                                   .group_by(IntakeRejection.network)).all())
    failed = dict(db.session.execute(select(Reply.network, func.count(Reply.id)).where(Reply.state == "failed")
                                     .group_by(Reply.network)).all())
    out = []
    for network in ADAPTERS:
        try:
            enabled, available = get_adapter(network).is_enabled(current_app.config), True
        except ImportError:
            enabled, available = False, False
        out.append(NetworkStatus(network, str(NETWORK_LABELS.get(network, network)), enabled, available,
                                 msgs.get(network, 0), rejs.get(network, 0), failed.get(network, 0)))
    return out


def recent_rejections(limit: int = 100) -> list[IntakeRejection]:
    return list(db.session.scalars(select(IntakeRejection).order_by(IntakeRejection.id.desc()).limit(limit)))


def categories() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.name)))


def update_category_rules(actor: User, category: Category, keywords: str, default_institution_id: int | None) -> None:
    ensure_admin(actor)
    words = " ".join(w for w in keywords.replace(",", " ").split() if w)
    if len(words) > 5000:
        raise ValidationFailed("Слишком длинный список слов (до 5000 символов)", field="keywords")
    if default_institution_id is not None and db.session.get(Institution, default_institution_id) is None:
        raise ValidationFailed("Учреждение не найдено", field="default_institution_id")
    category.keywords = words
    category.default_institution_id = default_institution_id
