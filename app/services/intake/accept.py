"""Accept: store every incoming message exactly once.

`accept()` is all a webhook does besides answering: one INSERT … ON CONFLICT DO NOTHING per message
(unique network + external id), committed by the caller, then a triage job is asked for after commit.
`reject()` keeps an authenticated request we could not take, for the admin.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from app.channels.base import IncomingMessage
from app.channels.clean import clean_message, clean_str, redact_headers, redact_text
from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import Account, IntakeRejection, Message, Resident, utcnow
from app.models.base import fit_column, fit_values, insert_or_ignore
from app.services import attachments, batchmemo
from app.services.accounts import posts

log = logging.getLogger(__name__)

# The two INSERTs of every webhook, built once per dialect: executed with a dict of values, SQLAlchemy reuses its
# compiled form (a statement built with .values(**values) is coerced and keyed again on every call: ≈1 ms CPU).
_INSERTS: dict[tuple[str, str], object] = {}


def _insert(model) -> object:
    """INSERT … ON CONFLICT (network, external_id) DO NOTHING RETURNING id, for the session's database."""
    key = (model.__tablename__, db.session.get_bind().dialect.name)
    stmt = _INSERTS.get(key)
    if stmt is None:
        stmt = _INSERTS[key] = (insert_or_ignore(model.__table__)
                                .on_conflict_do_nothing(index_elements=["network", "external_id"])
                                .returning(model.__table__.c.id))
    return stmt


def _resident_id(m: IncomingMessage, now: datetime) -> tuple[int, bool]:
    """The resident's id, and whether the row is new."""
    values = fit_values(Resident, dict(network=m.network, external_id=m.author_id,
                                       display_name=m.author_name or "", created_at=now,
                                       phone=m.contact.get("phone"), email=m.contact.get("email"),
                                       consent_at=now if m.contact.get("consent") else None))
    rid = db.session.execute(_insert(Resident), values).scalar()
    if rid is not None:
        return rid, True
    return db.session.scalar(select(Resident.id).where(Resident.network == m.network,
                                                       Resident.external_id == values["external_id"])), False


def _account_id(m: IncomingMessage, thread_key: str | None) -> int | None:
    """Our account the message reached: by the network's id, else the account of its thread (a reply to a
    reply inside a post's comments only names the discussion group)."""
    if m.account_ref:
        ref = str(m.account_ref)
        found = batchmemo.memo(("account_id", m.network, ref), lambda: account_id(m.network, ref))
        if found is not None:
            return found
    if thread_key:
        return db.session.scalar(select(Message.account_id).where(
            Message.network == m.network, Message.thread_key == thread_key, Message.account_id.isnot(None))
            .order_by(Message.id.desc()).limit(1))
    return None


def account_id(network: str, external_id: str) -> int | None:
    """Our account of `network` with that id. Several rows may carry it (a community registered twice): the one with
    a secret of its own first, then the oldest — the one whose secret a VK callback is checked against
    (accounts.credentials); a webhook reads it once (batchmemo: credentials leaves it there)."""
    return db.session.scalar(select(Account.id).where(Account.network == network, Account.external_id == external_id)
                             .order_by(Account.secret_enc.is_(None), Account.id).limit(1))


def _thread_known(network: str, thread_key: str | None) -> bool:
    """A comment thread of ours intake has already taken a message from (`thread_key` as stored: fitted)."""
    return bool(thread_key) and db.session.scalar(select(Message.id).where(
        Message.network == network, Message.thread_key == thread_key).limit(1)) is not None


def _own_phone(resident_id: int, m: IncomingMessage) -> None:
    """A resident who shared their own contact card: their phone, when we had none."""
    phone = (m.contact.get("phone") or "")[:40] if m.network not in ("web", "api") else ""
    if phone:
        db.session.execute(update(Resident).where(Resident.id == resident_id, Resident.phone.is_(None))
                           .values(phone=phone))


def accept(messages: list[IncomingMessage], now: datetime | None = None) -> list[int]:
    """Store the messages; a message seen before is skipped. Returns the ids of new rows. Caller commits.
    Every value is fitted to its column (app/models/base.py): text is cut, keys are hashed when too long."""
    now = now or utcnow()
    new_ids = []
    with_files: list[tuple[int, str, list[dict]]] = []
    unnamed = False  # a new VK resident: callbacks carry no names, users.get fills them in (jobs/intake.vk_names)
    for m in messages:
        clean_message(m)  # NUL, lone surrogates, impossible dates, links to other hosts: see channels.clean
        values = fit_values(Message, dict(
            network=m.network, external_id=m.external_id, kind=m.kind, text=m.text or "",
            attachments=[a.as_dict() for a in m.attachments], permalink=(m.permalink or None),
            thread_key=m.thread_key, reply_to_external_id=m.reply_to, raw=m.raw, reply_address=m.reply_address,
            received_at=m.sent_at or now,
            command=m.command or ("start" if m.start_code else None),
            command_arg=(m.command_arg or m.start_code),
        ))
        if m.known_thread_only and not _thread_known(m.network, values["thread_key"]):
            log.info("%s: %s is group chat outside our comment threads: not taken", m.network, m.external_id)
            continue
        values["account_id"] = _account_id(m, values["thread_key"])
        if m.account_required and values["account_id"] is None:
            log.info("%s: %s is in a group chat that is not our account: not taken", m.network, m.external_id)
            continue
        # A comment under a participant's publication: linked to the post (stored from the comment if new).
        values["post_id"] = posts.link_comment(m.post, values["received_at"]) if m.post is not None else None
        values["resident_id"], created = _resident_id(m, now)
        unnamed = unnamed or (created and m.network == "vk" and not m.author_name)
        if not created:
            _own_phone(values["resident_id"], m)
        if m.edit_of:
            edit_of = fit_column(Message.__table__.c.external_id, m.edit_of)
            values["edit_of_id"] = db.session.scalar(select(Message.id).where(
                Message.network == m.network, Message.external_id == edit_of))
        mid = db.session.execute(_insert(Message), values).scalar()
        if mid is not None:
            new_ids.append(mid)
            with_files.append((mid, m.network, values["attachments"]))
    if new_ids:
        enqueue_after_commit(db.session(), "app.jobs.intake.request_triage", queue="intake", inline=True)
    files = attachments.ids_to_store(with_files)
    if files:  # links that expire (VK, MAX, OK): keep a copy
        enqueue_after_commit(db.session(), "app.jobs.intake.store_files", files, queue="default")
    if unnamed:
        enqueue_after_commit(db.session(), "app.jobs.intake.request_vk_names", queue="default", inline=True)
    return new_ids


def reject(network: str, reason: str, body: str, headers: dict) -> None:
    """Keep an authenticated request we could not take, with its raw body, for the admin. Caller commits.
    Secrets (the platforms' secret headers, VK's `secret` field, tokens, cookies) are never kept; characters
    PostgreSQL cannot store (NUL, lone surrogates) are shown escaped."""
    body = (body or "")[:100_000].replace("\x00", "\\0")
    db.session.add(IntakeRejection(network=network[:20], reason=clean_str(reason)[:300],
                                   body=clean_str(redact_text(body)), headers=redact_headers(headers)))
