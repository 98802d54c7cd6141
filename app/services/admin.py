"""Admin views' data: network status, intake problems, keyword rules."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.channels import ADAPTERS, get_adapter
from app.extensions import db
from app.models import (
    NETWORK_LABELS,
    CalendarDay,
    Category,
    Institution,
    IntakeRejection,
    Message,
    Reply,
    SlaPolicy,
    User,
    utcnow,
)
from app.services import refusals, sla
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
    refused_today: int = 0  # unauthenticated requests refused today (only counted, never stored)


def network_statuses() -> list[NetworkStatus]:
    since = utcnow() - timedelta(hours=24)
    msgs = dict(db.session.execute(select(Message.network, func.count(Message.id))
                                   .where(Message.received_at >= since).group_by(Message.network)).all())
    rejs = dict(db.session.execute(select(IntakeRejection.network, func.count(IntakeRejection.id))
                                   .where(IntakeRejection.received_at >= since)
                                   .group_by(IntakeRejection.network)).all())
    failed = dict(db.session.execute(select(Reply.network, func.count(Reply.id)).where(Reply.state == "failed")
                                     .group_by(Reply.network)).all())
    refused = refusals.by_network()
    out = []
    for network in ADAPTERS:
        try:
            enabled, available = get_adapter(network).is_enabled(current_app.config), True
        except ImportError:
            enabled, available = False, False
        out.append(NetworkStatus(network, str(NETWORK_LABELS.get(network, network)), enabled, available,
                                 msgs.get(network, 0), rejs.get(network, 0), failed.get(network, 0),
                                 refused.get(network, 0)))
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
    if default_institution_id is not None:
        inst = db.session.get(Institution, default_institution_id)
        if inst is None:
            raise ValidationFailed("Учреждение не найдено", field="default_institution_id")
        if not inst.receives_appeals:
            raise ValidationFailed("«%(who)s» не получает обращения жителей: выберите другое учреждение",
                                   field="default_institution_id", who=inst.short_name)
    category.keywords = words
    category.default_institution_id = default_institution_id


MAX_SLA_MINUTES = 366 * 24 * 60  # a year: the column is a PostgreSQL integer, and no target is longer


def policies() -> list[SlaPolicy]:
    return list(db.session.scalars(select(SlaPolicy).order_by(SlaPolicy.name)))


def update_policy(actor: User, policy: SlaPolicy, first: int | None, resolution: int | None, business_hours: bool,
                  warning_percent: int | None) -> None:
    """Edit an SLA preset; zero or negative targets are refused (the urgent priority halves them)."""
    ensure_admin(actor)
    for value, field in ((first, "first_response_minutes"), (resolution, "resolution_minutes")):
        if value is not None and value > MAX_SLA_MINUTES:
            raise ValidationFailed("Срок не может быть больше года (%(n)s минут)", field=field, n=MAX_SLA_MINUTES)
    if first is None or first <= 0:
        raise ValidationFailed("Срок первого ответа должен быть больше нуля минут", field="first_response_minutes")
    if resolution is None or resolution <= 0:
        raise ValidationFailed("Срок решения должен быть больше нуля минут", field="resolution_minutes")
    if resolution < first:
        raise ValidationFailed("Срок решения не может быть короче срока первого ответа", field="resolution_minutes")
    if warning_percent is None or not 1 <= warning_percent <= 99:
        raise ValidationFailed("Порог предупреждения — от 1 до 99 % срока", field="warning_percent")
    policy.first_response_minutes, policy.resolution_minutes = first, resolution
    policy.business_hours, policy.warning_percent = business_hours, warning_percent


def calendar_year(year: int) -> list[CalendarDay]:
    return list(db.session.scalars(select(CalendarDay).where(CalendarDay.date >= date(year, 1, 1),
                                                             CalendarDay.date <= date(year, 12, 31))
                                   .order_by(CalendarDay.date)))


def parse_calendar_lines(text: str) -> list[tuple[str, str, str]]:
    """Lines «ГГГГ-ММ-ДД;вид;примечание» (вид: holiday | workday | short) → rows for calendar.import_year."""
    rows = []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(";")]
        if len(parts) < 2:
            raise ValidationFailed("Строка %(n)s: нужно «ГГГГ-ММ-ДД;вид;примечание»", field="rows", n=n)
        rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
    if not rows:
        raise ValidationFailed("Нет ни одной строки для загрузки", field="rows")
    return rows


def institutions() -> list[Institution]:
    return list(db.session.scalars(select(Institution).order_by(Institution.short_name)))


def set_business_hours(actor: User, institution: Institution, spec: str | None) -> None:
    """An institution's own working hours («08:00-17:00», «24x7»; empty = the city's)."""
    ensure_admin(actor)
    try:
        institution.business_hours = sla.validate_hours(spec)
    except ValueError as exc:
        raise ValidationFailed("Часы работы: %(why)s", field="business_hours", why=exc) from exc
