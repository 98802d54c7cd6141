"""The public web form's appeal: the per-address limit, the photos' storage and the hand-over to intake.

The view parses the form and commits; this module decides. Files are written under UPLOAD_DIR/<yyyy>/<mm>/ before
the commit, so a failed commit or a duplicate submission must `discard()` them (nothing else deletes them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.channels import get_adapter
from app.channels.base import Attachment
from app.channels.web import remove_stored, store_image
from app.extensions import db
from app.models import Institution, Message
from app.services import deeplinks, intake


def limits() -> tuple[int, int]:
    """(per hour, per day): APPEAL_LIMIT_PER_HOUR / APPEAL_LIMIT_PER_DAY submissions from one address."""
    cfg = current_app.config
    return int(cfg.get("APPEAL_LIMIT_PER_HOUR", 5)), int(cfg.get("APPEAL_LIMIT_PER_DAY", 20))


def too_many(ip: str, now: datetime) -> bool:
    """At most N submissions per address per hour and M per day, counted from the stored web messages."""
    per_hour, per_day = limits()
    stmt = select(Message.received_at).where(Message.network == "web", Message.received_at >= now - timedelta(days=1),
                                              Message.raw["ip"].as_string() == ip)
    times = list(db.session.scalars(stmt.limit(per_day + 1)))
    return len(times) >= per_day or sum(1 for t in times if t >= now - timedelta(hours=1)) >= per_hour


def participant(code: str | None) -> Institution | None:
    """The participant a QR code's `/appeal?p=<code>` sends the appeal to: only one that receives appeals (an
    unknown code, or a participant that only publishes, leaves the appeal routed as usual)."""
    return deeplinks.routable(deeplinks.participant_by_code(code))


def code_of(institution: Institution | None) -> str | None:
    return institution.feedback_code if institution is not None else None


def by_submission(submission: str) -> Message | None:
    """The stored message of a form submission (its id travels in the form: a double click counts once)."""
    return db.session.scalar(select(Message).where(Message.network == "web", Message.external_id == submission))


@dataclass
class Submitted:
    new_ids: list = field(default_factory=list)  # what intake.accept stored (empty: the submission raced in twice)
    files: list[str] = field(default_factory=list)  # paths under UPLOAD_DIR written for it


def submit(submission: str, fields: dict, photos, ip: str, now: datetime) -> Submitted:
    """Store the checked photos and hand the appeal to intake (the web adapter's parse, then intake.accept).
    `fields`: text, address, name, phone, email, participant (a checked code or None); `photos`: items with
    data, ext, name, mime. If anything fails the files written are removed and the error raised. The caller
    commits."""
    upload_dir = current_app.config["UPLOAD_DIR"]
    done = Submitted()
    try:
        attachments = []
        for photo in photos:
            rel = store_image(photo.data, photo.ext, upload_dir, now)
            done.files.append(rel)
            attachments.append(Attachment(kind="photo", file_id=rel, name=photo.name, mime=photo.mime,
                                          size=len(photo.data)))
        payload = {"submission_id": submission, **fields, "ip": ip, "attachments": attachments}
        parsed = get_adapter("web").parse(payload, current_app.config)
        done.new_ids = intake.accept(parsed.messages, now=now)
    except Exception:
        discard(done)
        raise
    return done


def discard(done: Submitted) -> None:
    """Remove the files of a submission that was not kept (the commit failed, or it was a duplicate)."""
    remove_stored(done.files, current_app.config["UPLOAD_DIR"])
