"""Record an event on a ticket's timeline: the one writer of TicketEvent rows.

`record(ticket, kind, actor=None, resident=None, at=None, **payload)` adds the row (the caller commits). The
payload is JSON the timeline (services/timeline.py), the board and the exports read by key, so each kind keeps
its keys:

| kind | payload keys |
|---|---|
| created | network |
| status | from, to, [reason] (a REJECT_REASONS key), [comment] |
| assigned | institution_id, institution (short name), previous (short name or None) |
| category | category_id, category (name), previous (name or None) |
| priority | priority, previous |
| deadline | clock (first / resolution), previous, deadline (ISO UTC), reason (Russian text), [regime] |
| note, reply | text |
| reply_resent | reply_id |
| interim | text, promised (ISO UTC) |
| merged | source (number), source_id — on the ticket merged into |
| message | message_id |
| message_edited | text, message_id |
| promoted | — |
| routed | category, category_source (rule, model, keywords), category_p (the model's probability), institution (short name or None), institution_source (deeplink, rule, model, account, category), institution_p, matched, confidence (keywords: 0…1), rule_id |
| verdict | verdict (yes / no), [rating] (1…5), via |
| control | order_id, step, state, institution, due (ISO UTC), and the step's own keys |

Moments are ISO strings in UTC; `at` is the event's time (defaults to now). Exactly one of `actor` (staff) and
`resident` is usually given; neither means the system.
"""
from __future__ import annotations

from datetime import datetime

from app.extensions import db
from app.models import Resident, Ticket, TicketEvent, User, utcnow


def record(ticket: Ticket, kind: str, actor: User | None = None, resident: Resident | None = None,
           at: datetime | None = None, **payload) -> TicketEvent:
    event = TicketEvent(ticket=ticket, kind=kind, created_at=at or utcnow(), payload=payload,
                        actor_user_id=actor.id if actor else None,
                        actor_resident_id=resident.id if resident else None)
    db.session.add(event)
    return event
