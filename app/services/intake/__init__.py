"""Intake: every message from every network is accepted (stored once), then triaged — a bot command, noise, a
follow-up of an open ticket, or a new ticket routed to a category and an institution (routing.py).

accept.py stores (what a webhook calls), triage.py decides, routing.py holds the text rules; their functions are
as they were in app/services/intake.py. Callers import the package: `intake.accept(...)`, `intake.triage_pending()`.
"""
from app.services.intake.accept import accept, reject  # noqa: F401
from app.services.intake.triage import (  # noqa: F401
    BOT_COMMANDS,
    BURSTLESS,
    NUMBER_MAX,
    TRIAGE_BATCH,
    burst_window,
    main_ticket,
    noise_pile,
    promote,
    residents_of,
    routing_text,
    send_due_acks,
    triage_message,
    triage_pending,
    untriaged_count,
)
