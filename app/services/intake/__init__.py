"""Intake: every message from every network is accepted (stored once), then triaged — a bot command, noise, a
follow-up of an open ticket, or a new ticket routed to a category and an institution (routing.py).

triage.py holds accept and triage as they were in app/services/intake.py (issue 11 moved the file); callers
import the package: `intake.accept(...)`, `intake.triage_pending()`, …
"""
from app.services.intake.triage import (  # noqa: F401
    BOT_COMMANDS,
    BURSTLESS,
    NUMBER_MAX,
    TRIAGE_BATCH,
    accept,
    burst_window,
    main_ticket,
    noise_pile,
    promote,
    reject,
    residents_of,
    routing_text,
    send_due_acks,
    triage_message,
    triage_pending,
    untriaged_count,
)
