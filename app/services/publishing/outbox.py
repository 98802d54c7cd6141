"""The publishing outbox: one Delivery row per (post, account) and every change of its state (models/publishing.py
lists the states). Owned by the delivery engine; the compose service (posts.py) and the pages call only these
functions: release, cancel, resend, check_rights, apply_edit, apply_delete (and read publication_state).

Exactly once per account, the way the replies' outbox does it (services/replies.py):
- `deliver()` claims a row with a conditional UPDATE (scheduled and due → sending, attempts + 1) committed BEFORE
  the platform is asked: two schedulers or two workers publish once (the loser's UPDATE changes no row).
- A post is sent part by part (plan.parts: a Telegram album then its long text…); «sending» is committed before
  each call and the part's platform ids right after it, so a part accepted is never sent twice, and what was
  uploaded (`uploaded`) is kept even when the call then fails: a retry does not upload again.
- A call whose fate is unknown (PublishError.uncertain: a timeout after the request left) and a row a dead worker
  left `sending` (recover_stale) become `unconfirmed` («не подтверждено») on the networks with no idempotency key
  (Telegram, OK, MAX): never sent again blindly, the author decides («отправить ещё раз» → resend). VK dedupes
  wall.post by our `guid`: it is simply retried.
- A rate limit waits the platform's retry_after (not counted as a failure, up to MAX_RATE_LIMITED waits);
  unavailable / garbage are retried with BACKOFF up to MAX_ATTEMPTS failures; no_rights, bad_token, not_found,
  private, wrong_network are final: `failed` with the module's Russian sentence. One account's failure stops no
  other.
- Refused beforehand (`release`): what limits.plan_for refuses, what the account's stored rights forbid
  (publish_ok False; a photo post where publish_photos_ok is False or a VK account without a user token — VK
  error 27), an account of another network or switched off.

Speed: `publish_due(publication_id)` delivers a publication's due rows with PUBLISH_THREADS threads per network
(each row still claimed one by one; each token's calls paced by its Pacer, shared through Redis between
processes), so one job publishes a post to a hundred accounts within the platforms' limits.

Bookkeeping the outbox keeps for itself inside `Delivery.uploaded` under the key "_outbox" (never shown to a
network module): {"waits": rate-limit waits so far, "base": attempts when the row was last (re)started}.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from app.extensions import db
from app.jobs import enqueue_after_commit, redis_connection
from app.models import NETWORK_LABELS, Account, Delivery, Notification, Post, Publication, utcnow
from app.services import replies
from app.services.accounts import posts as content
from app.services.accounts.platforms import PACING, Pacing, PlatformError
from app.services.errors import InvalidTransition
from app.services.publishing import limits, networks
from app.services.publishing.networks import Channel, PhotoFile, PublishError, Rights, Sent
from app.services.secretbox import SecretUnreadable, decrypt

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # failed tries (not rate limits) before a row is given up as `failed`
MAX_RATE_LIMITED = 50  # waits the platform may ask for (retry_after) before we give up
BACKOFF = (10, 30, 120, 600, 1800)  # seconds between tries when the platform gives no retry-after
MAX_WAIT = 24 * 3600.0  # a longer retry_after is not waited: failed with the platform's sentence
# Networks that dedupe a repeated post by our key (VK wall.post guid): after an unknown fate they are retried.
IDEMPOTENT_NETWORKS = frozenset({"vk"})
SENDING_STALE_MIN = timedelta(minutes=10)  # a part with photos uploads them first, paced: give it time
REASON_MAX = 500  # Account.publish_reason
ERROR_MAX = 2000
QUEUE = "default"
SETTLED = ("published", "failed", "unconfirmed", "refused", "cancelled", "deleted")
PENDING = ("waiting", "scheduled", "sending")
CHANGEABLE = ("waiting", "scheduled", "failed", "unconfirmed")  # what cancel() may still stop
_META = "_outbox"


# --- words --------------------------------------------------------------------------------------------------
def account_label(account: Account | None) -> str:
    """How an account is named to staff: «ВКонтакте «Школа № 3»»."""
    if account is None:
        return "удалённый аккаунт"
    net = str(NETWORK_LABELS.get(account.network, account.network))
    name = account.title or account.handle or account.external_id or f"#{account.id}"
    return f"{net} «{name}»"


def _snippet(text: str, size: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= size else text[:size - 1].rstrip() + "…"


# --- the publication's state --------------------------------------------------------------------------------
def rollup(current: str, rows: Iterable[tuple[str, int]]) -> str:
    """The publication's state from its deliveries' (state, attempts): `scheduled` while nothing has been tried,
    `publishing` while some row is still to go and something was tried or went out, `done` once every row is
    settled. States the compose service owns (draft, awaiting_approval, rejected, cancelled, deleted) stay."""
    if current in ("draft", "awaiting_approval", "rejected", "cancelled", "deleted"):
        return current
    rows = list(rows)
    if not rows:
        return current
    if any(state in PENDING for state, _ in rows):
        started = any(state == "sending" or (state in ("published", "failed", "unconfirmed", "deleted"))
                      or (state in PENDING and attempts > 0) for state, attempts in rows)
        return "publishing" if started else "scheduled"
    return "done"


def publication_state(publication: Publication, current: str | None = None) -> str:
    """rollup() of the publication as stored now (flushes pending changes first); `current` instead of its
    stored state (release: a draft or an approved post enters the engine's states)."""
    rows = db.session.execute(select(Delivery.state, Delivery.attempts)
                              .where(Delivery.publication_id == publication.id)).all()
    return rollup(current or publication.state, [(s, a or 0) for s, a in rows])


def _settle(publication_id: int, now: datetime, published: bool = False) -> Publication | None:
    """Recompute the publication's state under its row lock (two workers finishing at once see each other's
    rows); `published`: a copy went out at `now` (published_at is the first)."""
    db.session.flush()
    pub = db.session.get(Publication, publication_id, with_for_update=True, populate_existing=True)
    if pub is None:
        return None
    pub.state = publication_state(pub)
    if published and (pub.published_at is None or pub.published_at > now):
        pub.published_at = now
    return pub


# --- release / cancel / resend ------------------------------------------------------------------------------
def guid_for(publication_id: int, account_id: int) -> str:
    """Our idempotency key of (post, account) — VK's wall.post `guid` (≤ 64 characters)."""
    return f"om-pub{publication_id}-acc{account_id}"[:64]


def plan_photos(publication: Publication) -> list[limits.Photo]:
    return [limits.Photo(size=p.size, content_type=p.content_type) for p in publication.photos]


def unconfirmed_reason(account: Account) -> str:
    """An account an smm specialist added and the press service has not confirmed yet (services/accounts/registry)."""
    return (f"{account_label(account)}: аккаунт добавлен SM-специалистом и ещё не подтверждён пресс-службой — "
            "публикация начнётся после подтверждения.")


def refusal(publication: Publication, account: Account | None,
            plan: limits.Plan | None = None) -> str | None:
    """Why the post cannot go to `account` at all (a Russian sentence naming the account and what to do), or
    None. The plan's refusals, the account's stored rights, the account itself."""
    name = account_label(account)
    if account is None:
        return "Аккаунт удалён из каталога: выберите другой аккаунт."
    if account.network not in networks.NETWORKS:
        return (f"{name}: публикация через приложение возможна только в Telegram, ВКонтакте, Одноклассники и MAX — "
                "разместите пост в этой сети вручную.")
    if not account.is_active:
        return f"{name}: аккаунт отключён в каталоге — включите его или не выбирайте."
    if account.institution is not None and not account.institution.is_active:
        return f"{name}: участник отключён в каталоге — в его аккаунты посты не публикуются."
    if account.confirmed_at is None:
        return unconfirmed_reason(account)
    if not account.external_id:
        return f"{name}: у аккаунта не указан идентификатор в сети — откройте аккаунт и сохраните его адрес заново."
    if plan is None:
        plan = limits.plan_for(account.network, publication.text, plan_photos(publication),
                               publication.link_preview)
    if plan.refused:
        return f"{name}: {plan.refused}"
    if account.publish_ok is False:
        why = (account.publish_reason or "приложению не хватает прав на публикацию").rstrip(". ")
        return f"{name}: публиковать нельзя — {why}. Выдайте права и проверьте аккаунт заново."
    if publication.photos:
        if account.network == "vk" and not account.user_token_enc:
            return (f"{name}: ключ сообщества ВКонтакте не может загружать фото (ошибка VK 27) — добавьте "
                    "аккаунту ключ пользователя-администратора сообщества или опубликуйте пост без фото.")
        if account.publish_photos_ok is False:
            why = (account.publish_reason or "приложение не может публиковать фото в этом аккаунте").rstrip(". ")
            return f"{name}: фото опубликовать нельзя — {why}. Уберите фото или выдайте права."
    return None


def release(publication: Publication, now: datetime | None = None) -> None:
    """The publication may go (created without approval, or approved): its `waiting` deliveries become `scheduled`
    (due at publication.scheduled_at, or now); those the plan or the account's rights refuse become `refused` with
    the reason. Enqueues the due ones after the caller's commit. Caller commits."""
    now = now or utcnow()
    db.session.flush()
    due_at = publication.scheduled_at or now
    scheduled = 0
    plans: dict[str, limits.Plan] = {}
    photos = plan_photos(publication)
    for delivery in publication.deliveries:
        if delivery.state != "waiting":
            continue
        account = delivery.account
        plan = None
        if account is not None and account.network in networks.NETWORKS:
            if account.network not in plans:
                plans[account.network] = limits.plan_for(account.network, publication.text, photos,
                                                         publication.link_preview)
            plan = plans[account.network]
        reason = refusal(publication, account, plan)
        if reason:
            delivery.state, delivery.last_error, delivery.next_attempt_at = "refused", reason[:ERROR_MAX], None
            continue
        delivery.state, delivery.next_attempt_at, delivery.last_error = "scheduled", due_at, None
        delivery.guid = delivery.guid or guid_for(publication.id, delivery.account_id)
        delivery.uploaded = _restarted(delivery)
        scheduled += 1
    db.session.flush()
    if publication.state in ("draft", "awaiting_approval", "rejected", "scheduled"):
        publication.state = publication_state(publication, "scheduled")
    if not scheduled:
        return
    if due_at <= now:
        enqueue_after_commit(db.session(), "app.jobs.publishing.publish_due", publication.id, queue=QUEUE,
                             job_id=f"publish-due-{publication.id}")
    else:  # the periodic sweep picks it up too (a lost job, a scheduler restarted)
        enqueue_after_commit(db.session(), "app.jobs.publishing.publish_due", publication.id, queue=QUEUE,
                             job_id=f"publish-due-{publication.id}", delay=(due_at - now).total_seconds())


def cancel(publication: Publication) -> None:
    """Cancel what has not gone out yet: waiting / scheduled / failed / unconfirmed deliveries → cancelled (a row
    `sending` is left to finish). Caller commits."""
    for delivery in publication.deliveries:
        if delivery.state in CHANGEABLE:
            delivery.state, delivery.next_attempt_at = "cancelled", None


def resend(delivery: Delivery, now: datetime | None = None) -> None:
    """«Отправить ещё раз» of an unconfirmed (or failed) delivery: → scheduled now, parts already accepted are not
    sent again. Caller checks access and commits."""
    if delivery.state not in ("unconfirmed", "failed"):
        raise InvalidTransition("Этот пост нельзя отправить ещё раз: он не ждёт решения (не «не подтверждено» "
                                "и не «не отправлено»).")
    now = now or utcnow()
    db.session.flush()
    _lock_publications([delivery.publication_id])  # the workers' lock order: publication, then delivery
    delivery.state, delivery.next_attempt_at, delivery.sending_at = "scheduled", now, None
    delivery.last_error = None
    delivery.guid = delivery.guid or guid_for(delivery.publication_id, delivery.account_id)
    delivery.uploaded = _restarted(delivery)
    _settle(delivery.publication_id, now)
    enqueue_after_commit(db.session(), "app.jobs.publishing.deliver", delivery.id, queue=QUEUE,
                         job_id=f"publish-{delivery.id}-resend-{delivery.attempts}")


# --- the bookkeeping inside `uploaded` ----------------------------------------------------------------------
def _meta(delivery: Delivery) -> dict:
    meta = (delivery.uploaded or {}).get(_META)
    return dict(meta) if isinstance(meta, dict) else {}


def _restarted(delivery: Delivery) -> dict:
    """`uploaded` with the counting restarted (a release or a resend: failures counted from here)."""
    uploaded = copy.deepcopy(dict(delivery.uploaded or {}))
    uploaded[_META] = {"waits": 0, "base": delivery.attempts or 0}
    return uploaded


def _for_module(delivery: Delivery) -> dict:
    return {k: copy.deepcopy(v) for k, v in (delivery.uploaded or {}).items() if not str(k).startswith("_")}


def _store_uploaded(delivery: Delivery, uploaded: dict, meta: dict | None = None) -> None:
    out = {k: v for k, v in copy.deepcopy(uploaded).items() if not str(k).startswith("_")}
    out[_META] = meta if meta is not None else _meta(delivery)
    delivery.uploaded = out


# --- what the module gets -----------------------------------------------------------------------------------
class Unsendable(Exception):
    """The row cannot be sent and retrying cannot help: `failed` with this sentence."""


def channel_for(account: Account, config) -> Channel:
    """The account as a network module needs it, its secrets decrypted (SecretUnreadable when a stored secret no
    key opens)."""
    token = decrypt(account.token_enc, config) if account.network in ("vk", "ok") else None
    user_token = decrypt(account.user_token_enc, config) if account.network == "vk" else None
    return Channel(account_id=account.id, network=account.network, external_id=str(account.external_id or ""),
                   handle=account.handle or "", title=account.title or "", token=token, user_token=user_token)


def photo_files(publication: Publication, config) -> list[PhotoFile]:
    root = str(config.get("UPLOAD_DIR") or "")
    files = []
    for number, photo in enumerate(publication.photos, start=1):
        path = os.path.join(root, photo.path)
        if not os.path.isfile(path):
            raise Unsendable(f"Фото №{number} не найдено в хранилище файлов: загрузите его заново и отправьте пост "
                             "ещё раз (хранилище должно быть общим для сайта и обработчиков).")
        files.append(PhotoFile(path=path, content_type=photo.content_type, size=photo.size or 0,
                               name=photo.original_name or "photo"))
    return files


def _pacing(pacing: Pacing | None) -> Pacing:
    if pacing is not None:
        return pacing
    if current_app.config.get("REDIS_URL"):
        try:
            PACING.share(redis_connection())  # workers and the CLI on one token keep to one window
        except Exception:  # noqa: BLE001 — Redis away: this process keeps its own window
            log.warning("publishing: shared pacing unavailable", exc_info=True)
    return PACING


def sending_stale() -> timedelta:
    """A row `sending` for longer than this has lost its worker."""
    return max(replies.sending_stale(), SENDING_STALE_MIN)


# --- delivering ---------------------------------------------------------------------------------------------
def _claim(delivery_id: int, now: datetime) -> bool:
    """scheduled and due → sending, committed before anything is sent; False: not ours (another worker has it,
    it went out already, or it is not yet due)."""
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.state == "scheduled",
               or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
        .values(state="sending", sending_at=now, attempts=Delivery.attempts + 1)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def _lock_publications(ids: Iterable[int]) -> None:
    for pid in sorted(set(ids)):
        db.session.get(Publication, pid, with_for_update=True, populate_existing=True)


def _reload(delivery_id: int) -> Delivery | None:
    """The row, locked — its publication's row first: every transaction that changes a delivery and then settles
    the publication takes the locks in that order (a second UPDATE of a row in one transaction re-checks all its
    foreign keys, taking a share lock on the publication: two workers each holding one and wanting the other's
    exclusive lock would deadlock)."""
    pid = db.session.scalar(select(Delivery.publication_id).where(Delivery.id == delivery_id))
    if pid is None:
        return None
    _lock_publications([pid])
    return db.session.get(Delivery, delivery_id, populate_existing=True, with_for_update=True)


def deliver(delivery_id: int, now: datetime | None = None, pacing: Pacing | None = None) -> str:
    """Send one scheduled, due delivery, part by part. Returns its state afterwards ("missing" for no such row).
    Commits several times (the claim, `sending` before each call, each result), so run it from a job. `now`: a
    fixed clock (tests); else each step reads the time (a post with photos may take a while to go)."""
    fixed = now

    def moment() -> datetime:
        return fixed or utcnow()

    now = moment()
    if not _claim(delivery_id, now):
        state = db.session.scalar(select(Delivery.state).where(Delivery.id == delivery_id))
        db.session.commit()
        return state or "missing"
    delivery = db.session.get(Delivery, delivery_id, populate_existing=True)
    attempt = delivery.attempts  # our claim: a row recovered and claimed again by another worker is no longer ours
    publication, account = delivery.publication, delivery.account
    _settle(publication.id, now)
    db.session.commit()
    config = current_app.config
    try:
        if (account is None or account.network not in networks.NETWORKS or not account.is_active
                or account.confirmed_at is None
                or (account.institution is not None and not account.institution.is_active)):
            raise Unsendable(refusal(publication, account) or f"{account_label(account)}: аккаунт недоступен.")
        try:
            channel = channel_for(account, config)
        except SecretUnreadable as exc:
            raise Unsendable(f"{account_label(account)}: {exc}.") from None
        photos = photo_files(publication, config)
        plan = limits.plan_for(account.network, publication.text,
                               [limits.Photo(size=p.size, content_type=p.content_type) for p in photos],
                               publication.link_preview)
        if plan.refused:
            raise Unsendable(f"{account_label(account)}: {plan.refused}")
        try:
            module = networks.module(account.network)
        except (KeyError, ImportError):
            raise Unsendable(f"{account_label(account)}: публикация в эту сеть ещё не подключена в приложении — "
                             "сообщите администратору.") from None
    except Unsendable as exc:
        return _finish_failed(_reload(delivery_id), str(exc), now)
    pacing = _pacing(pacing)
    guid = delivery.guid or guid_for(publication.id, account.id)
    while True:
        done = list(delivery.parts or [])
        k = len(done)
        if k >= len(plan.parts):
            return _finish_published(delivery, account, publication, photos, moment())
        delivery.state, delivery.sending_at, delivery.guid = "sending", moment(), guid
        uploaded = _for_module(delivery)
        db.session.commit()  # durable before the platform is asked: a crash after its «accepted» is visible
        try:
            sent = module.send_part(channel, plan, k, photos, config, guid=guid, uploaded=uploaded, pacing=pacing)
        except PublishError as exc:
            return _after_error(delivery_id, exc, uploaded, moment(), k, attempt)
        except PlatformError as exc:
            return _after_error(delivery_id, PublishError(exc.message, exc.kind, exc.retry_after), uploaded,
                                moment(), k, attempt)
        except Exception as exc:  # noqa: BLE001 — a module's bug or an unmapped transport error mid-call:
            log.exception("publishing: delivery %s part %s failed unexpectedly", delivery_id, k)
            return _after_error(delivery_id, PublishError(
                f"{account_label(account)}: сбой при отправке ({exc.__class__.__name__}) — неизвестно, дошёл ли "
                "пост.", "unavailable", uncertain=True), uploaded, moment(), k, attempt)
        delivery = _reload(delivery_id)
        if delivery is None:
            db.session.commit()
            return "missing"
        ours = delivery.attempts == attempt
        if len(delivery.parts or []) == k:  # part k accepted, and nobody recorded it yet
            if ours:
                _store_uploaded(delivery, uploaded)
            _record_part(delivery, sent, k)
        else:  # another worker (the row recovered while we waited) recorded part k first: ours is the same post
            log.warning("publishing: delivery %s part %s already recorded by another worker", delivery_id, k)
        if not ours:  # recovered and claimed again meanwhile: that worker goes on with it
            db.session.commit()
            return delivery.state
        db.session.commit()


def _record_part(delivery: Delivery, sent: Sent, k: int) -> None:
    ids = [str(i) for i in (sent.ids or []) if i is not None and str(i) != ""] or [str(sent.external_id)]
    delivery.parts = list(delivery.parts or []) + [ids]
    if k == 0:
        delivery.external_id = str(sent.external_id)[:128]
        delivery.permalink = sent.permalink
    delivery.sending_at = None


def post_external_id(delivery: Delivery) -> str:
    """The post's id as the read side stores it (Post.external_id): the id of the first call's first item —
    Telegram the channel message id (comments under it name it: forward_origin.message_id; the Bot API sends a
    bot no updates of its own posts), VK the wall post id, OK the topic id, MAX the message's mid."""
    return str(delivery.external_id)


def _finish_published(delivery: Delivery, account: Account, publication: Publication, photos: list[PhotoFile],
                      now: datetime) -> str:
    delivery = _reload(delivery.id)
    delivery.state, delivery.published_at, delivery.last_error = "published", now, None
    delivery.sending_at, delivery.next_attempt_at = None, None
    if delivery.external_id:
        try:
            with db.session.begin_nested():
                pid, created = content.upsert_post(
                    account.id, post_external_id(delivery), published_at=now, text=publication.text[:content.TEXT_MAX],
                    permalink=delivery.permalink, media_count=len(photos), source="app")
                if created:
                    content._seen(account, now)
                delivery.post_id = pid
        except Exception:  # noqa: BLE001 — the post went out: the accounting row must not undo that
            log.exception("publishing: the content accounting's row of delivery %s not written", delivery.id)
    _settle(publication.id, now, published=True)
    db.session.commit()
    return "published"


def _finish_failed(delivery: Delivery, why: str, now: datetime, state: str = "failed") -> str:
    delivery.state, delivery.last_error = state, why[:ERROR_MAX]
    delivery.sending_at, delivery.next_attempt_at = None, None
    _settle(delivery.publication_id, now)
    tell_author(delivery, now)
    db.session.commit()
    return state


def _unconfirmed_text(delivery: Delivery, k: int, detail: str) -> str:
    label = account_label(delivery.account)
    part = f" (часть {k + 1})" if k else ""
    return (f"Не подтверждено: {label}{part} — отправка прервалась после обращения к сети ({detail.rstrip('. ')}), "
            "а сеть не позволяет проверить, дошёл ли пост. Проверьте аккаунт: если поста нет — нажмите «Отправить "
            "ещё раз»; если он есть — ничего не делайте.")


def _after_error(delivery_id: int, exc: PublishError, uploaded: dict, now: datetime, k: int,
                 attempt: int | None = None) -> str:
    delivery = _reload(delivery_id)
    if delivery is None:
        db.session.commit()
        return "missing"
    ours = attempt is None or delivery.attempts == attempt
    meta = _meta(delivery)
    if ours:  # what was uploaded stays known (a retry does not upload again)
        _store_uploaded(delivery, uploaded, meta)
    if delivery.state != "sending" or not ours:
        # recovered meanwhile (a very slow call), maybe claimed again by another worker: leave it to them
        db.session.commit()
        return delivery.state
    delivery.sending_at = None
    message = (exc.message or str(exc) or "ошибка сети")[:ERROR_MAX]
    net = delivery.network
    if exc.final:
        _remember_rights(delivery, exc, k, now)
        return _finish_failed(delivery, message, now)
    if exc.uncertain and net not in IDEMPOTENT_NETWORKS:
        return _finish_failed(delivery, _unconfirmed_text(delivery, k, message), now, state="unconfirmed")
    waits, base = int(meta.get("waits", 0)), int(meta.get("base", 0))
    if exc.kind == "rate_limited" and not exc.uncertain:
        waits += 1
        wait = max(float(exc.retry_after if exc.retry_after is not None else 1.0), 0.0)
        if waits > MAX_RATE_LIMITED or wait > MAX_WAIT:
            return _finish_failed(delivery, message, now)
    else:
        failures = (delivery.attempts or 0) - base - waits
        if failures >= MAX_ATTEMPTS:
            return _finish_failed(delivery, message, now)
        wait = BACKOFF[min(max(failures, 1) - 1, len(BACKOFF) - 1)]
        if exc.retry_after:
            wait = max(wait, float(exc.retry_after))
    _store_uploaded(delivery, uploaded, {**meta, "waits": waits, "base": base})
    delivery.state, delivery.last_error = "scheduled", message
    delivery.next_attempt_at = now + timedelta(seconds=wait)
    _settle(delivery.publication_id, now)
    enqueue_after_commit(db.session(), "app.jobs.publishing.deliver", delivery_id, queue=QUEUE,
                         job_id=f"publish-{delivery_id}-{delivery.attempts}", delay=wait)
    db.session.commit()
    return "scheduled"


def _remember_rights(delivery: Delivery, exc: PublishError, k: int, now: datetime) -> None:
    """A final «no rights» / «bad token» is the account's, not only this post's: kept on the account so the next
    posts are refused beforehand (a rights check clears it). A refused photo upload forbids photos only."""
    if exc.kind not in ("no_rights", "bad_token"):
        return
    account = db.session.get(Account, delivery.account_id)
    if account is None:
        return
    with_photos = False
    try:
        pub = delivery.publication
        plan = limits.plan_for(delivery.network, pub.text, plan_photos(pub), pub.link_preview)
        with_photos = k < len(plan.parts) and plan.parts[k].photos > 0
    except Exception:  # noqa: BLE001 — only a refinement
        pass
    if with_photos and exc.kind == "no_rights":
        account.publish_photos_ok = False
    else:
        account.publish_ok = False
    account.publish_reason = (exc.message or "")[:REASON_MAX]
    account.publish_checked_at = now


# --- telling the author -------------------------------------------------------------------------------------
def tell_author(delivery: Delivery, now: datetime) -> Notification | None:
    """The author learns that a copy failed or is unconfirmed: one notification per publication while it is
    unread (later failures are added to it, not a notification each). The caller commits."""
    pub = db.session.get(Publication, delivery.publication_id)
    if pub is None or pub.author_id is None:
        return None
    line = delivery.last_error or account_label(delivery.account)
    note = db.session.scalar(select(Notification).where(
        Notification.user_id == pub.author_id, Notification.publication_id == pub.id,
        Notification.kind == "publication_failed", Notification.read_at.is_(None))
        .order_by(Notification.id.desc()).limit(1).with_for_update())
    if note is not None:
        if line not in note.text:
            note.text = (note.text + "\n" + line)[:8000]
        return note
    note = Notification(user_id=pub.author_id, publication_id=pub.id, kind="publication_failed", created_at=now,
                        text=f"Пост «{_snippet(pub.text) or 'без текста'}» ушёл не везде.\n{line}")
    db.session.add(note)
    db.session.flush()
    try:
        replies.push_to_staff(note, now)
    except Exception:  # noqa: BLE001 — the in-app notification is the record
        log.exception("publishing: push of notification %s not queued", note.id)
    return note


# --- the sweep and the publication's job --------------------------------------------------------------------
def recover_stale(now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Rows a dead worker left `sending`: VK (guid) → scheduled again, now; the others → unconfirmed (whether the
    platform accepted the call is unknown: the author decides). Commits."""
    now = now or utcnow()
    stale = (Delivery.state == "sending", Delivery.sending_at < now - sending_stale())
    _lock_publications(db.session.scalars(select(Delivery.publication_id).where(*stale).limit(limit)))
    rows = db.session.scalars(select(Delivery).where(*stale).order_by(Delivery.id).limit(limit)
                              .with_for_update(skip_locked=True)).all()
    counts = {"retried": 0, "unconfirmed": 0}
    touched: set[int] = set()
    unsure = []
    for delivery in rows:
        delivery.sending_at = None
        touched.add(delivery.publication_id)
        if delivery.network in IDEMPOTENT_NETWORKS:
            delivery.state, delivery.next_attempt_at = "scheduled", now
            counts["retried"] += 1
        else:
            k = len(delivery.parts or [])
            delivery.state, delivery.next_attempt_at = "unconfirmed", None
            delivery.last_error = _unconfirmed_text(delivery, k, "обработчик остановился во время отправки")
            unsure.append(delivery)
            counts["unconfirmed"] += 1
    for pid in sorted(touched):  # locks in the order a worker takes them: delivery, publication, notification
        _settle(pid, now)
    for delivery in unsure:
        tell_author(delivery, now)
    db.session.commit()
    return counts


def due_publications(now: datetime | None = None, limit: int = 500) -> list[int]:
    """Publications with scheduled rows whose moment has come (a lost job, a retry's time, a scheduled post)."""
    now = now or utcnow()
    return list(db.session.scalars(
        select(Delivery.publication_id).where(Delivery.state == "scheduled",
                                              or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
        .group_by(Delivery.publication_id).order_by(Delivery.publication_id).limit(limit)))


def due_deliveries(publication_id: int, now: datetime) -> list[tuple[int, str]]:
    return list(db.session.execute(
        select(Delivery.id, Delivery.network).where(
            Delivery.publication_id == publication_id, Delivery.state == "scheduled",
            or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now))
        .order_by(Delivery.id)).all())


def publish_due(publication_id: int, now: datetime | None = None, pacing: Pacing | None = None,
                threads: int | None = None, budget: float | None = None) -> dict[str, int]:
    """Deliver the publication's due rows: PUBLISH_THREADS threads per network (0: one after another here), each
    thread in an application context of its own, each row claimed one by one (a twin job or another scheduler
    publishes nothing twice). `budget`: seconds after which no new row is started (PUBLISH_JOB_BUDGET; a worker's
    job has a time limit) — the rows left are counted as "left" for the job to go on with. Returns {state: rows}
    of the rows this call touched (a row another worker had: its state then)."""
    now_given = now
    now = now or utcnow()
    rows = due_deliveries(publication_id, now)
    db.session.commit()  # hold no transaction while the platforms answer
    if threads is None:
        threads = int(current_app.config.get("PUBLISH_THREADS", 4) or 0)
        if db.engine.dialect.name != "postgresql":
            threads = 0  # SQLite (the embedded demo): one writer at a time
    if budget is None:
        budget = float(current_app.config.get("PUBLISH_JOB_BUDGET", 120) or 0) or None
    deadline = time.monotonic() + budget if budget is not None else None
    pacing = _pacing(pacing)

    def run(ids: list[int]) -> list[str]:
        states = []
        for delivery_id in ids:
            if deadline is not None and time.monotonic() >= deadline:
                states.append("left")
                continue
            try:
                states.append(deliver(delivery_id, now=now_given, pacing=pacing))
            except Exception:  # noqa: BLE001 — one row's trouble stops no other (recover_stale settles it)
                log.exception("publishing: delivery %s broke", delivery_id)
                db.session.rollback()
                states.append("error")
        return states

    app = current_app._get_current_object()

    def run_in_app(ids: list[int]) -> list[str]:
        with app.app_context():
            try:
                return run(ids)
            finally:
                db.session.remove()

    if threads <= 0 or len(rows) <= 1:
        results = [run([delivery_id for delivery_id, _ in rows])]
    else:
        by_network: dict[str, list[int]] = {}
        for delivery_id, network in rows:
            by_network.setdefault(network, []).append(delivery_id)
        chunks = []
        for ids in by_network.values():
            n = min(threads, len(ids))
            chunks += [ids[i::n] for i in range(n)]
        with ThreadPoolExecutor(len(chunks), thread_name_prefix="publish") as pool:
            results = list(pool.map(run_in_app, chunks))
    outcome: dict[str, int] = {}
    for states in results:
        for state in states:
            outcome[state] = outcome.get(state, 0) + 1
    return outcome


# --- rights -------------------------------------------------------------------------------------------------
def check_rights(account: Account, now: datetime | None = None, pacing: Pacing | None = None) -> Rights:
    """Ask the platform whether the app may publish to `account`; store the answer on it (publish_ok,
    publish_photos_ok, publish_reason, publish_checked_at). A platform that did not answer (5xx, a timeout, a rate
    limit, garbage) changes nothing stored: the returned Rights say so. Caller commits."""
    now = now or utcnow()
    name = account_label(account)
    if account.network not in networks.NETWORKS:
        rights = Rights(False, False, f"{name}: публикация через приложение в этой сети невозможна.")
    else:
        try:
            module = networks.module(account.network)
        except (KeyError, ImportError):
            return Rights(False, False, f"{name}: публикация в эту сеть ещё не подключена в приложении — сообщите "
                                        "администратору.")  # the app's gap, not the account's: not stored
        try:
            rights = module.check_rights(channel_for(account, current_app.config), current_app.config,
                                         pacing=_pacing(pacing))
        except SecretUnreadable as exc:
            rights = Rights(False, False, f"{name}: {exc}.")
        except PlatformError as exc:
            rights = Rights(False, False, exc.message or f"{name}: сеть не ответила на проверку прав.")
            if exc.kind in ("rate_limited", "unavailable", "garbage"):
                return rights  # the platform did not answer: what we knew of the account stands
    account.publish_ok = bool(rights.can_post)
    account.publish_photos_ok = bool(rights.can_post and rights.can_post_photos)
    account.publish_reason = (rights.reason or "")[:REASON_MAX] or None
    account.publish_checked_at = now
    return rights


# --- after publishing ---------------------------------------------------------------------------------------
def _change_each(publication: Publication, action: str, now: datetime, pacing: Pacing | None) -> dict[int, str | None]:
    config = current_app.config
    pacing = _pacing(pacing)
    photos = plan_photos(publication)
    results: dict[int, str | None] = {}
    ids = [d.id for d in publication.deliveries if _holds_copy(d, action)]
    for delivery_id in ids:
        delivery = _reload(delivery_id)
        if delivery is None or not _holds_copy(delivery, action):
            db.session.commit()
            continue
        account = delivery.account
        error = None
        try:
            module = networks.module(delivery.network)
            channel = channel_for(account, config)
            parts = copy.deepcopy(list(delivery.parts or []))
            db.session.commit()  # no lock held while the platform answers
            if action == "edit":
                plan = limits.plan_for(delivery.network, publication.text, photos, publication.link_preview)
                if plan.refused:
                    raise PublishError(f"{account_label(account)}: {plan.refused}", "garbage")
                module.edit(channel, parts, plan, config, pacing=pacing)
            else:
                module.delete(channel, parts, config, pacing=pacing)
        except (KeyError, ImportError):
            error = f"{account_label(account)}: изменение в этой сети ещё не подключено в приложении."
        except SecretUnreadable as exc:
            error = f"{account_label(account)}: {exc}."
        except PlatformError as exc:
            error = exc.message or f"{account_label(account)}: сеть отказала."
        except Exception as exc:  # noqa: BLE001 — one copy's trouble stops no other
            log.exception("publishing: %s of delivery %s failed", action, delivery_id)
            error = f"{account_label(account)}: сбой ({exc.__class__.__name__}) — попробуйте ещё раз позже."
        delivery = _reload(delivery_id)
        delivery.change_error, delivery.changed_at = (error[:ERROR_MAX] if error else None), now
        if error is None and action == "delete":
            delivery.state = "deleted"
            _post_deleted(delivery, now)
        if error is None and action == "edit" and delivery.post_id is not None and delivery.external_id:
            try:
                with db.session.begin_nested():
                    content.upsert_post(delivery.account_id, post_external_id(delivery),
                                        text=publication.text[:content.TEXT_MAX], edited_at=now)
            except Exception:  # noqa: BLE001 — the copy was edited: the accounting row is secondary
                log.exception("publishing: accounting row of delivery %s not updated", delivery_id)
        results[delivery_id] = error
        db.session.commit()
    return results


def _post_deleted(delivery: Delivery, now: datetime) -> None:
    """The copy is gone from the platform: its accounting row stops counting on the participant's pages (kept:
    residents' comments link to it); where the account's post figure is our own count (Telegram, MAX), one less."""
    post = db.session.get(Post, delivery.post_id) if delivery.post_id is not None else None
    if post is None or post.deleted_at is not None:
        return
    post.deleted_at = now
    account = db.session.get(Account, delivery.account_id)
    if account is not None and account.posts_source == "seen" and account.posts > 0:
        account.posts -= 1


def _holds_copy(delivery: Delivery, action: str) -> bool:
    """Whether the platform holds (part of) this copy to change: a published one; for a deletion also one that
    stopped half-way (a Telegram album whose text then failed, was cancelled or is unconfirmed)."""
    if delivery.state == "published":
        return True
    return action == "delete" and bool(delivery.parts) and delivery.state in ("failed", "unconfirmed", "cancelled",
                                                                               "scheduled")


def replan(publication: Publication, now: datetime | None = None) -> dict[str, int]:
    """The text or the photos changed before the copies went out: a scheduled row the new post cannot go to is
    `refused` (with the reason), a row refused before that now can go is `scheduled` again (at the publication's
    moment). Rights-refusals stay as long as the account's rights do. Returns {"refused": n, "scheduled": n}.
    Caller commits (the due rows are enqueued after it)."""
    now = now or utcnow()
    db.session.flush()
    _lock_publications([publication.id])
    db.session.refresh(publication)
    counts = {"refused": 0, "scheduled": 0}
    for delivery in publication.deliveries:
        if delivery.state not in ("scheduled", "refused"):
            continue
        reason = refusal(publication, delivery.account)
        if delivery.state == "scheduled" and reason:
            delivery.state, delivery.last_error, delivery.next_attempt_at = "refused", reason[:ERROR_MAX], None
            counts["refused"] += 1
        elif delivery.state == "refused" and not reason:
            delivery.state, delivery.last_error = "scheduled", None
            delivery.next_attempt_at = publication.scheduled_at or now
            delivery.guid = delivery.guid or guid_for(publication.id, delivery.account_id)
            delivery.uploaded = _restarted(delivery)
            counts["scheduled"] += 1
    _settle(publication.id, now)
    if counts["scheduled"] and (publication.scheduled_at or now) <= now:
        enqueue_after_commit(db.session(), "app.jobs.publishing.publish_due", publication.id, queue=QUEUE,
                             job_id=f"publish-due-{publication.id}")
    return counts


def apply_edit(publication: Publication, now: datetime | None = None,
               pacing: Pacing | None = None) -> dict[int, str | None]:
    """Apply the publication's new text to every published copy where the platform allows it; {delivery id: None
    (applied) or the Russian reason it could not be}. Stored on each delivery (change_error). Commits.
    Rows not yet out go with the new text (the plan is made when each is sent; `replan` re-decides which can)."""
    now = now or utcnow()
    pid = publication.id
    replan(publication, now)
    db.session.commit()
    results = _change_each(db.session.get(Publication, pid), "edit", now, pacing)
    pub = db.session.get(Publication, pid, populate_existing=True)
    if results:
        pub.edited_at = now
    db.session.commit()
    return results


def apply_delete(publication: Publication, now: datetime | None = None,
                 pacing: Pacing | None = None) -> dict[int, str | None]:
    """Delete every published copy where the platform allows it; as apply_edit. Rows not yet out are cancelled;
    the publication becomes `deleted`. Commits."""
    now = now or utcnow()
    pid = publication.id
    db.session.flush()
    # The rows not yet out are cancelled and committed first: no worker claims one while the copies are deleted.
    pub = db.session.get(Publication, pid, populate_existing=True, with_for_update=True)
    unsure: dict[int, str | None] = {}
    for delivery in pub.deliveries:
        if delivery.state == "unconfirmed" and not delivery.parts:  # the platform may hold it; no id to delete by
            unsure[delivery.id] = delivery.change_error = (
                f"{account_label(delivery.account)}: копия не подтверждена — если пост есть в аккаунте, удалите "
                "его там вручную.")
            delivery.changed_at = now
        if delivery.state in CHANGEABLE:
            delivery.state, delivery.next_attempt_at = "cancelled", None
    pub.state = "deleted"
    db.session.commit()
    return {**_change_each(db.session.get(Publication, pid), "delete", now, pacing), **unsure}
