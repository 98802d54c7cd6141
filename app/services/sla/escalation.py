"""SLA escalation: the periodic sweep that records warnings and breaches, each fact once.

A fact is (ticket, kind, deadline): the unique key on sla_marks makes it recorded once however often the
sweep runs and however many workers run it at once (INSERT … ON CONFLICT DO NOTHING RETURNING: only the
transaction that inserted a mark writes its event and notifications). A moved deadline (pause/resume) is a
new fact. The warning moment is the ticket's stored `*_warn_at`, computed by app/services/sla.py in working
time on the ticket's calendar (warning_percent % of the working time to the deadline); rows from before it was
stored get it from `sla.fill_missing_warnings` at the start of each sweep (the calendar share meanwhile).
A sweep that first sees a ticket past its deadline records the breach only. Pushes to staff go through the
outbox, held until the recipient's working hours. Set-based SQL in batches of tickets (keyset on the id);
each batch commits on its own.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, insert, select, text

from app.extensions import db
from app.formatting import local_dt
from app.models import (
    SLA_MARK_KINDS,
    Category,
    Notification,
    SlaMark,
    SlaPolicy,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from app.models.base import insert_or_ignore
from app.services import replies, sla

RUNNING_STATUSES = ("new", "assigned", "in_progress")  # open and the clock running (waiting_resident: paused)
DEFAULT_WARNING_PERCENT = 75


@dataclass
class SweepResult:
    warnings: int = 0
    breaches: int = 0


# One statement per batch of tickets (keyset on tickets.id: each batch is a range scan, a sweep reads the
# table once): the facts of these tickets not marked yet, inserted in a stable order (two workers never wait
# on each other in a cycle) with ON CONFLICT DO NOTHING. `last_id`/`n`: where the batch ended, how many tickets.
_PG_BATCH = text("""
WITH t AS MATERIALIZED (
    SELECT id, created_at, category_id, first_response_due_at, resolution_due_at, first_responded_at,
           first_response_warn_at, resolution_warn_at
    FROM tickets
    WHERE id > :after AND status IN ('new', 'assigned', 'in_progress') AND sla_paused_at IS NULL
    ORDER BY id
    LIMIT :batch
), cand AS (
    SELECT t.id AS ticket_id, d.clock || CASE WHEN d.due <= :now THEN '_breach' ELSE '_warning' END AS kind,
           d.due AS deadline_at
    FROM t
    LEFT JOIN categories c ON c.id = t.category_id
    LEFT JOIN sla_policies p ON p.id = c.sla_policy_id
    CROSS JOIN LATERAL (VALUES
        ('first_response', CASE WHEN t.first_responded_at IS NULL THEN t.first_response_due_at END,
         t.first_response_warn_at),
        ('resolution', t.resolution_due_at, t.resolution_warn_at)
    ) AS d(clock, due, warn)
    WHERE d.due IS NOT NULL
      AND CASE WHEN d.warn IS NOT NULL AND d.warn <= d.due THEN d.warn
               ELSE t.created_at + (d.due - t.created_at) * (COALESCE(p.warning_percent, 75) / 100.0) END <= :now
), ins AS (
    INSERT INTO sla_marks (ticket_id, kind, deadline_at, created_at)
    SELECT ticket_id, kind, deadline_at, :now FROM cand
    WHERE NOT EXISTS (SELECT 1 FROM sla_marks m
                      WHERE m.ticket_id = cand.ticket_id AND m.kind = cand.kind AND m.deadline_at = cand.deadline_at)
    ORDER BY ticket_id, kind
    ON CONFLICT DO NOTHING
    RETURNING ticket_id, kind, deadline_at
)
SELECT (SELECT max(id) FROM t) AS last_id, (SELECT count(*) FROM t) AS n, ins.ticket_id, ins.kind, ins.deadline_at
FROM (SELECT 1) AS one LEFT JOIN ins ON true
""")


def _kind_for(clock: str, due: datetime, now: datetime) -> str:
    return f"{clock}_{'breach' if due <= now else 'warning'}"


def _portable_batch(now: datetime, batch: int, after: int) -> tuple[int, int, list[tuple[int, str, datetime]]]:
    """The same as _PG_BATCH for other databases (SQLite in development): row by row, in Python."""
    rows = db.session.execute(
        select(Ticket.id, Ticket.created_at, Ticket.first_response_due_at, Ticket.resolution_due_at,
               Ticket.first_responded_at, SlaPolicy.warning_percent, Ticket.first_response_warn_at,
               Ticket.resolution_warn_at)
        .outerjoin(Category, Category.id == Ticket.category_id)
        .outerjoin(SlaPolicy, SlaPolicy.id == Category.sla_policy_id)
        .where(Ticket.id > after, Ticket.status.in_(RUNNING_STATUSES), Ticket.sla_paused_at.is_(None))
        .order_by(Ticket.id).limit(batch)).all()
    cands = []
    for tid, created, first_due, res_due, responded, pct, first_warn, res_warn in rows:
        for clock, due, warn in (("first_response", None if responded else first_due, first_warn),
                                 ("resolution", res_due, res_warn)):
            if due is None:
                continue
            warn_at = warn if warn is not None and warn <= due else \
                created + (due - created) * ((pct or DEFAULT_WARNING_PERCENT) / 100)
            if warn_at <= now:
                kind = _kind_for(clock, due, now)
                if not db.session.scalar(select(exists().where(
                        SlaMark.ticket_id == tid, SlaMark.kind == kind, SlaMark.deadline_at == due))):
                    cands.append((tid, kind, due))
    new = []
    for tid, kind, due in cands:
        res = db.session.execute(insert_or_ignore(SlaMark).values(ticket_id=tid, kind=kind, deadline_at=due,
                                                                  created_at=now).on_conflict_do_nothing())
        if res.rowcount:
            new.append((tid, kind, due))
    return (rows[-1][0] if rows else after), len(rows), new


# Facts older than this are still recorded (events, marks, the head's list) but nobody is notified:
# the first sweep after deployment would otherwise send a notification for every old breach.
NOTIFY_WINDOW = timedelta(days=1)


def _notification_text(kind: str, number: str, deadline: datetime) -> str:
    return f"Обращение {number}: {SLA_MARK_KINDS[kind]} (срок: {local_dt(deadline)})"


def _follow_up(new: list[tuple[int, str, datetime]], now: datetime) -> None:
    """For the marks this transaction inserted: timeline events and notifications."""
    ids = sorted({tid for tid, _, _ in new})
    tickets = {r.id: r for r in db.session.execute(
        select(Ticket.id, Ticket.number, Ticket.institution_id).where(Ticket.id.in_(ids)))}
    institutions = {t.institution_id for t in tickets.values() if t.institution_id is not None}
    executors: dict[int, list[int]] = {}
    if institutions:
        for uid, inst in db.session.execute(select(User.id, User.institution_id).where(
                User.role == "executor", User.is_active_user.is_(True), User.institution_id.in_(institutions))):
            executors.setdefault(inst, []).append(uid)
    moderators = list(db.session.scalars(select(User.id).where(User.role == "moderator",
                                                               User.is_active_user.is_(True))))
    events, notes = [], []
    for tid, kind, due in new:
        clock, _, level = kind.rpartition("_")
        events.append({"ticket_id": tid, "kind": f"sla_{level}", "created_at": now,
                       "payload": {"clock": clock, "deadline": due.isoformat()}})
        t = tickets[tid]
        users = moderators if level == "breach" else executors.get(t.institution_id, [])
        if users and now - due <= NOTIFY_WINDOW:  # old lateness is recorded, not pushed to people
            msg = _notification_text(kind, t.number, due)
            notes.extend({"user_id": uid, "ticket_id": tid, "kind": kind, "text": msg, "created_at": now}
                         for uid in users)
    if events:
        db.session.execute(insert(TicketEvent), events)
    if notes:
        # Users with a linked Telegram chat get the notification there too, through the outbox (held until
        # their working hours).

        ids = list(db.session.scalars(insert(Notification).returning(Notification.id), notes))
        replies.push_notifications(ids, now)


def sweep(now: datetime | None = None, batch: int = 5000, max_batches: int | None = None) -> SweepResult:
    """Record every warning and breach due by `now` that is not recorded yet, in the caller's transaction."""
    result = SweepResult()
    for result in sweep_batches(now, batch, max_batches):
        pass
    return result


def sweep_batches(now: datetime | None = None, batch: int = 5000,
                  max_batches: int | None = None) -> Iterator[SweepResult]:
    """The sweep batch by batch: yields the running totals after each batch (and once after filling missing
    warning moments). The caller commits at each yield — the job does, so a million tickets are never one
    transaction and two workers never wait on each other for long."""
    now = now or utcnow()
    result = SweepResult()
    if sla.fill_missing_warnings():  # older rows get their working-time warning moments, a batch per run
        yield result
    postgres = db.session.get_bind().dialect.name == "postgresql"
    done, after = 0, 0
    while max_batches is None or done < max_batches:
        if postgres:
            rows = db.session.execute(_PG_BATCH, {"now": now, "batch": batch, "after": after}).all()
            n, after = rows[0].n, rows[0].last_id or after
            new = [(r.ticket_id, r.kind, r.deadline_at) for r in rows if r.ticket_id is not None]
        else:
            after, n, new = _portable_batch(now, batch, after)
        if new:
            _follow_up(new, now)
        result.breaches += sum(1 for _, kind, _ in new if kind.endswith("_breach"))
        result.warnings += sum(1 for _, kind, _ in new if kind.endswith("_warning"))
        yield result
        done += 1
        if n < batch:
            break


def problem_tickets(query):
    """The head's problem issues: `query` (a select of Ticket) narrowed to tickets with a resolution breach."""
    return query.where(exists().where(SlaMark.ticket_id == Ticket.id, SlaMark.kind == "resolution_breach"))

