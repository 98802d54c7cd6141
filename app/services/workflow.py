"""The ticket state machine: the one place that says which status may follow which.

Every change is written as a TicketEvent with its actor and time (services/events.py).
"""
from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l

from app.models import REJECT_REASONS, STATUS_LABELS, Resident, Ticket, TicketEvent, User, utcnow
from app.services import sla
from app.services.errors import Conflict, InvalidTransition, NotAllowed, ValidationFailed
from app.services.events import record  # noqa: F401  (workflow.record: the name intake.py still uses)

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned", "in_progress", "rejected", "merged"}),
    "assigned": frozenset({"in_progress", "resolved", "new", "rejected", "merged"}),
    "in_progress": frozenset({"waiting_resident", "resolved", "new", "rejected", "merged"}),
    "waiting_resident": frozenset({"in_progress", "resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset({"in_progress"}),
    "rejected": frozenset({"new"}),
    "merged": frozenset(),
}

# What an institution's executor may do on its own tickets; everything else is the moderators'.
EXECUTOR_TRANSITIONS = frozenset({
    ("assigned", "in_progress"),
    ("assigned", "resolved"),
    ("assigned", "new"),  # return to the moderators: not ours
    ("in_progress", "new"),
    ("in_progress", "waiting_resident"),
    ("in_progress", "resolved"),
    ("waiting_resident", "in_progress"),
    ("waiting_resident", "resolved"),
})

# Labels of the action buttons (what the user does, not the state it leads to).
ACTION_LABELS = {
    "assigned": _l("Передать исполнителю"),
    "in_progress": _l("Взять в работу"),
    "waiting_resident": _l("Запросить уточнение у жителя"),
    "resolved": _l("Отметить решённым"),
    "closed": _l("Закрыть"),
    "new": _l("Вернуть модератору"),
    "rejected": _l("Отклонить"),
}


def check_version(ticket: Ticket, expected_version: int | None) -> None:
    if expected_version is not None and int(expected_version) != ticket.version:
        raise Conflict()


# The order actions are offered in: forward along the work first, then going back, rejection last.
TARGET_ORDER = ("assigned", "in_progress", "waiting_resident", "resolved", "closed", "new", "rejected")


def allowed_targets(user: User | None, ticket: Ticket) -> list[str]:
    """Statuses this user may move the ticket to, in a stable order (merge is a separate action)."""
    targets = [s for s in TARGET_ORDER if s in TRANSITIONS[ticket.status]]
    if user is None:
        return targets
    if user.role in ("admin", "moderator"):
        return targets
    if user.role == "executor" and ticket.institution_id == user.institution_id:
        return [s for s in targets if (ticket.status, s) in EXECUTOR_TRANSITIONS]
    return []


def change_status(ticket: Ticket, to: str, actor: User | None, *, reason: str | None = None,
                  comment: str | None = None, expected_version: int | None = None,
                  resident: Resident | None = None, now: datetime | None = None,
                  _merge_allowed: bool = False) -> TicketEvent:
    """Move a ticket to status `to`, or raise a DomainError saying why not. Returns the «status» event.
    It does not talk to the resident: staff actions go through `tickets.change_status`, which also asks
    «Проблема решена?» when the ticket becomes resolved."""
    now = now or utcnow()
    check_version(ticket, expected_version)
    if not to:
        raise ValidationFailed("Выберите новый статус", field="status")
    if to not in STATUS_LABELS:
        raise ValidationFailed("Неизвестный статус", field="status")
    if to == ticket.status:
        raise InvalidTransition("Обращение уже в статусе «%(status)s»", status=STATUS_LABELS[to])
    if to not in TRANSITIONS[ticket.status] or (to == "merged" and not _merge_allowed):
        raise InvalidTransition("Нельзя перевести обращение из статуса «%(old)s» в «%(new)s»",
                                old=ticket.status_label, new=STATUS_LABELS[to])
    if actor is not None and to != "merged" and to not in allowed_targets(actor, ticket):
        raise NotAllowed("У вас нет права переводить обращение в статус «%(status)s»", status=STATUS_LABELS[to])
    if to == "rejected":
        if reason not in REJECT_REASONS:
            raise ValidationFailed("Укажите причину отклонения", field="reason")
        ticket.reject_reason = reason
    if to == "assigned" and ticket.institution_id is None:
        raise ValidationFailed("Сначала выберите исполнителя (учреждение)", field="institution_id")

    old = ticket.status
    if old == "waiting_resident":
        moved_from = sla.resume(ticket, now)
        if moved_from is not None:
            record(ticket, "deadline", actor, resident=resident, at=now, clock="resolution",
                   previous=moved_from.isoformat(), deadline=ticket.resolution_due_at.isoformat(),
                   reason="Срок сдвинут на время паузы: ждали ответа жителя")
    if to == "waiting_resident":
        sla.pause(ticket, now)
    if to == "assigned":
        ticket.assigned_at = now
    if to == "resolved":
        ticket.resolved_at = now
    if to == "closed":
        ticket.closed_at = now
    if to == "new":
        ticket.institution_id = None  # returned to the moderators
    if to in ("in_progress", "new") and old in ("resolved", "closed"):
        ticket.reopen_count = (ticket.reopen_count or 0) + 1  # a repeat complaint (the head's board counts it)
    if to in ("in_progress", "new") and old in ("resolved", "closed", "rejected"):
        ticket.resolved_at = ticket.closed_at = None
        ticket.reject_reason = None
        previous = ticket.resolution_due_at
        sla.restart_resolution(ticket, now)
        record(ticket, "deadline", actor, resident=resident, at=now, clock="resolution",
               previous=previous.isoformat(), deadline=ticket.resolution_due_at.isoformat(),
               reason="Обращение открыто повторно: новый срок решения")
    if to in ("in_progress", "resolved") and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    ticket.status = to
    payload = {"from": old, "to": to}
    if reason:
        payload["reason"] = reason
    if comment:
        payload["comment"] = comment
    return record(ticket, "status", actor, resident=resident, at=now, **payload)
