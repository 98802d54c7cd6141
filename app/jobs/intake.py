"""Intake jobs: triage stored messages in batches; sweep what a lost enqueue left behind; name new VK
residents. Idempotent."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.channels import ok as ok_channel
from app.channels.base import ChannelError
from app.channels.vk import NAMES_BATCH, VkAdapter
from app.extensions import db
from app.jobs import enqueue, redis_connection
from app.jobs.context import in_app
from app.models import Account, Delivery, utcnow
from app.services import attachments, intake
from app.services import vk_names as names
from app.services.accounts import credentials

log = logging.getLogger(__name__)

MAX_BATCHES = 50  # one job triages at most this many batches, then yields the worker
TRIAGE_JOB_SECONDS = 1.0  # with Redis, a job stops after the batch that passes this, and asks for the next job
# Debounce by a pending flag, not by time: a webhook sets the flag (SET NX) and enqueues a job only when it was
# not set; the job clears it when it starts, so what arrives from then on asks for the next job. However slow
# the machine, the webhooks before a job starts make exactly one job. The expiry is only a safety net for a
# queued job lost with Redis's data; the periodic runs (which also clear the flag) pick the work up meanwhile.
TRIAGE_FLAG = "om:intake:triage-requested"  # set while a triage job is queued: one job serves many webhooks
NAMES_FLAG = "om:intake:vk-names-requested"  # the same for the VK names job
FLAG_SAFETY_TTL = 3600  # seconds
NAMES_MAX_BATCHES = 20  # users.get calls per job (1,000 residents each)


def request_triage() -> None:
    """After a webhook stored messages: make sure one triage job is on its way (not one per message)."""
    if not current_app.config.get("REDIS_URL"):
        enqueue("app.jobs.intake.triage", queue="intake")  # in-process
        return
    _request_once(TRIAGE_FLAG, "app.jobs.intake.triage", "intake")


def _request_once(flag: str, path: str, queue: str) -> None:
    """Enqueue `path` unless a job is already pending (the flag is set); the job clears the flag as it starts."""
    redis = redis_connection()
    if redis.set(flag, "1", nx=True, ex=FLAG_SAFETY_TTL):
        try:
            enqueue(path, queue=queue)
        except Exception:
            redis.delete(flag)  # not queued: the next webhook asks again
            raise


@in_app
def triage() -> int:
    """Triage stored messages batch by batch (each batch commits on its own). Returns how many.
    With Redis, a job that has worked TRIAGE_JOB_SECONDS asks for the next job and ends: the worker looks at its
    queues again, acknowledgements first (jobs.QUEUES), instead of staying on an intake backlog for minutes."""
    queued = bool(current_app.config.get("REDIS_URL"))
    if queued:
        redis_connection().delete(TRIAGE_FLAG)  # arrivals from now on ask for a new job
    done, started = 0, time.monotonic()
    for _ in range(MAX_BATCHES):
        n = intake.triage_pending()
        db.session.commit()
        done += n
        if n < intake.TRIAGE_BATCH:
            break
        if queued and time.monotonic() - started >= TRIAGE_JOB_SECONDS:
            request_triage()  # more waiting: the next job (this or another worker) goes on
            break
    return done


@in_app
def send_acks() -> int:
    """The acknowledgements whose burst window has passed (enqueued with the window as its delay; the periodic
    sweep sends any a lost job left). Idempotent: each ticket's mark is cleared as its acknowledgement is made."""
    done = intake.send_due_acks()
    db.session.commit()
    return done


@in_app
def sweep() -> int:
    """Periodic: triage whatever is still untriaged (Redis was down, a worker died)."""
    return triage()


@in_app
def store_files(message_ids: list[int]) -> int:
    """Keep copies of residents' files whose platform links expire (services/attachments)."""
    done = attachments.store_files(message_ids)
    db.session.commit()
    return done


def request_vk_names() -> None:
    """After a webhook stored a new VK resident: make sure one names job is on its way (not one per webhook)."""
    if not current_app.config.get("REDIS_URL"):
        enqueue("app.jobs.intake.vk_names", queue="default")  # in-process
        return
    _request_once(NAMES_FLAG, "app.jobs.intake.vk_names", "default")


@in_app
def vk_names() -> int:
    """Fill in the names of VK residents stored unnamed (users.get, up to 1,000 per call, each batch committed
    on its own). A VK error (token, rate limit, VK down) leaves the rest unnamed for the periodic run.
    Returns how many residents were looked up."""
    if current_app.config.get("REDIS_URL"):
        redis_connection().delete(NAMES_FLAG)  # arrivals from now on ask for a new job
    config = current_app.config
    if not VkAdapter().is_enabled(config):
        return 0
    done = 0
    for _ in range(NAMES_MAX_BATCHES):
        try:
            n = names.name_batch(config)
        except ChannelError as exc:
            db.session.rollback()
            log.warning("VK names: %s; left for the periodic run (%s unnamed)", exc, names.unnamed_count())
            break
        db.session.commit()
        done += n
        if n < NAMES_BATCH:
            break
    return done


OK_COMMENTS_DAYS = 14  # the OK topics whose comments are polled: the app's copies published in the last two weeks
OK_TOPICS_PER_GROUP = 20


@in_app
def ok_comments() -> int:
    """Periodic: OK has no push for comments — poll those under the participants' OK topics the app published
    lately (issue 13: residents' comments under a published post flow into intake, the ticket linked to the post)
    with each group's own token when it has one, and store them (a comment seen before is skipped by its id).
    One group's trouble stops no other. Returns how many messages were stored."""
    config = current_app.config
    since = utcnow() - timedelta(days=OK_COMMENTS_DAYS)
    rows = db.session.execute(
        select(Account.external_id, Delivery.external_id).join(Account, Delivery.account_id == Account.id).where(
            Delivery.network == "ok", Delivery.state == "published", Delivery.published_at >= since,
            Delivery.external_id.isnot(None), Account.is_active.is_(True), Account.external_id.isnot(None))
        .order_by(Delivery.published_at.desc())).all()
    topics: dict[str, list[str]] = {}
    for group, topic in rows:
        if len(topics.setdefault(str(group), [])) < OK_TOPICS_PER_GROUP and str(topic) not in topics[str(group)]:
            topics[str(group)].append(str(topic))
    db.session.rollback()  # hold no transaction while OK answers
    stored = 0
    for group, ids in topics.items():
        try:
            messages = ok_channel.poll_comments(credentials.ok_group_config(group, config), ids, group_id=group)
            stored += len(intake.accept(messages))
            db.session.commit()
        except Exception:  # noqa: BLE001 — a group's token refused, OK down: the next run tries again
            db.session.rollback()
            log.warning("OK comments of group %s not polled", group, exc_info=True)
    if stored:
        request_triage()
    return stored
