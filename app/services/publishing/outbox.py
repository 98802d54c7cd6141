"""The publishing outbox: one Delivery row per (post, account) and every change of its state (models/publishing.py
lists the states). Owned by the delivery engine; the compose service (posts.py) and the pages call only these
functions.

FOUNDATION STUB (issue 13): the signatures below are the contract between the compose service and the engine; the
bodies are the engine's to write.
"""
from __future__ import annotations

from app.models import Account, Delivery, Publication
from app.services.publishing.networks import Rights


def release(publication: Publication) -> None:
    """The publication may go (created without approval, or approved): its `waiting` deliveries become `scheduled`
    (due at publication.scheduled_at, or now); those the plan or the account's rights refuse become `refused` with
    the reason. Enqueues the due ones after the caller's commit. Caller commits."""
    raise NotImplementedError


def cancel(publication: Publication) -> None:
    """Cancel what has not gone out yet: waiting / scheduled / failed / unconfirmed deliveries → cancelled (a row
    `sending` is left to finish). Caller commits."""
    raise NotImplementedError


def resend(delivery: Delivery) -> None:
    """«Отправить ещё раз» of an unconfirmed (or failed) delivery: → scheduled now, parts already accepted are not
    sent again. Caller checks access and commits."""
    raise NotImplementedError


def check_rights(account: Account) -> Rights:
    """Ask the platform whether the app may publish to `account`; store the answer on it (publish_ok,
    publish_photos_ok, publish_reason, publish_checked_at). Caller commits."""
    raise NotImplementedError


def apply_edit(publication: Publication) -> dict[int, str | None]:
    """Apply the publication's new text to every published copy where the platform allows it; {delivery id: None
    (applied) or the Russian reason it could not be}. Stored on each delivery (change_error). Commits."""
    raise NotImplementedError


def apply_delete(publication: Publication) -> dict[int, str | None]:
    """Delete every published copy where the platform allows it; as apply_edit. Commits."""
    raise NotImplementedError
