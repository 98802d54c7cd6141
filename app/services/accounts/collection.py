"""Collecting the participants' figures: one snapshot per account per city-time day, the account's latest
figures, its recent posts, and its failures kept on the account.

`collect_all()` asks each network for its accounts' figures (the networks at once, each batched and paced per
token by `platforms`), then writes account by account, each in a savepoint: one account's failure — no rights,
private, deleted, 5xx, garbage, a timeout, even a row the database refuses — is stored on that account
(`collect_error` with the platform's reason, `collect_error_at`, `failing_since`) and stops nothing else. A
success clears the failure. The snapshot is an INSERT … ON CONFLICT (account_id, taken_on) DO UPDATE: a second
run the same day updates the row, and two runs at once cannot make two rows. Like the outbox, it commits as it
goes: no transaction is held while the platforms answer, and what was written stays written.

When an account has failed for a day (`failing_since` older than FAILURE_NOTICE_AFTER), its participant's `smm`
users and every `press` user are told once per failure spell (in-app notification, and Telegram through the
outbox); `failure_notified_at` remembers it.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable
from zoneinfo import ZoneInfo

import httpx
from flask import current_app
from sqlalchemy import func, or_, select

from app.extensions import db
from app.jobs import redis_connection
from app.models import NETWORK_LABELS, NETWORKS, Account, AccountSnapshot, Notification, Post, User, utcnow
from app.models.base import insert_or_ignore
from app.services import replies
from app.services.accounts import avatars
from app.services.accounts.platforms import (
    PACING,
    POSTS_SEEN,
    Figures,
    Pacing,
    PlatformError,
    Target,
    collect_many,
)
from app.services.accounts.platforms import telegram as tg_platform
from app.services.accounts.posts import upsert_many
from app.services.secretbox import SecretUnreadable, decrypt

log = logging.getLogger(__name__)
FAILURE_NOTICE_AFTER = timedelta(hours=24)
BATCH = 200  # accounts written a statement (and a commit)
AVATAR_THREADS = 8
ERROR_MAX = 500  # Account.collect_error


@dataclass
class Outcome:
    account_id: int
    network: str
    label: str
    error: str | None = None
    kind: str | None = None


@dataclass
class Summary:
    collected: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    notified: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.collected) + len(self.failed)


def city_day(now: datetime) -> date:
    return now.astimezone(ZoneInfo(current_app.config["CITY_TZ"])).date()


def label(account: Account) -> str:
    return (account.title or account.handle or f"#{account.id}")[:120]


def _snapshot_statement():
    stmt = insert_or_ignore(AccountSnapshot)
    return stmt.on_conflict_do_update(
        index_elements=["account_id", "taken_on"],
        set_={"followers": stmt.excluded.followers, "posts": stmt.excluded.posts,
              "collected_at": stmt.excluded.collected_at, "source": stmt.excluded.source})


def upsert_snapshots(rows: list[dict]) -> None:
    """Rows {account_id, taken_on, followers, posts, collected_at, source}: each account's row of its day,
    inserted or updated (INSERT … ON CONFLICT DO UPDATE: safe under concurrent runs). The caller commits."""
    if rows:
        db.session.execute(_snapshot_statement(), rows)


def upsert_snapshot(account_id: int, day: date, followers: int, posts: int, collected_at: datetime | None,
                    source: str = "collector") -> None:
    """The account's row of `day`: inserted, or updated when the day has one."""
    upsert_snapshots([{"account_id": account_id, "taken_on": day, "followers": int(followers), "posts": int(posts),
                       "collected_at": collected_at, "source": source}])


def _accounts(network: str | None, account_id: int | None, ids: list[int] | None) -> list[Account]:
    query = select(Account).where(Account.is_active.is_(True), Account.network.in_(NETWORKS),
                                  Account.external_id.isnot(None))
    if network:
        query = query.where(Account.network == network)
    if account_id is not None:
        query = query.where(Account.id == account_id)
    if ids is not None:
        query = query.where(Account.id.in_(ids))
    return list(db.session.scalars(query.order_by(Account.id)))


def _target(account: Account, config) -> Target:
    token = decrypt(account.token_enc, config) if account.network in ("vk", "ok") else None
    return Target(account_id=account.id, network=account.network, external_id=str(account.external_id or ""),
                  handle=account.handle or "", token=token)


def collect_all(network: str | None = None, account_id: int | None = None, progress: Callable[[int], None] | None
                = None, *, ids: list[int] | None = None, now: datetime | None = None,
                pacing: Pacing = PACING) -> Summary:
    """Collect the active accounts of the four networks (or of `network`, or one `account_id`, or `ids`).
    `progress(n)` is told each time n more accounts are written. Returns what was collected and what failed."""
    started = time.monotonic()
    config = current_app.config
    if pacing is PACING and config.get("REDIS_URL"):
        PACING.share(redis_connection())  # workers and the CLI on one token keep to one window
    now = now or utcnow()
    day = city_day(now)
    summary = Summary()
    accounts = {a.id: a for a in _accounts(network, account_id, ids)}
    by_network: dict[str, list[Target]] = {}
    early: dict[int, PlatformError] = {}
    for account in accounts.values():
        try:
            by_network.setdefault(account.network, []).append(_target(account, config))
        except SecretUnreadable as exc:
            early[account.id] = PlatformError(f"Сохранённый ключ доступа не открывается: {exc}.", "bad_token")
    wanted = {a.id for a in accounts.values() if not a.avatar_path}
    db.session.commit()  # hold no transaction while the platforms answer
    if early:
        _write(accounts, early, now, day, summary, {}, progress)
    with ThreadPoolExecutor(max(1, len(by_network))) as pool:
        futures = {pool.submit(collect_many, net, targets, config, pacing=pacing,
                               avatars={t.account_id for t in targets} & wanted): net
                   for net, targets in by_network.items()}
        for future in as_completed(futures):
            net = futures[future]
            try:
                results = future.result()
            except Exception as exc:  # noqa: BLE001 — a network's collector broke: its accounts are marked
                log.exception("collection of %s failed", net)
                results = {t.account_id: PlatformError(f"Сбор не удался ({exc.__class__.__name__}): сообщите "
                                                       "администратору.", "garbage") for t in by_network[net]}
            images = _avatars(results, wanted, accounts, config, pacing)
            _write(accounts, results, now, day, summary, images, progress)
    summary.notified = notify_failures(now)
    db.session.commit()
    summary.seconds = time.monotonic() - started
    return summary


def collect_account(account_id: int, *, now: datetime | None = None, pacing: Pacing = PACING) -> Summary:
    """One account now (the staff page's «Обновить», the CLI's --account)."""
    return collect_all(account_id=account_id, now=now, pacing=pacing)


def _avatars(results: dict, wanted: set[int], accounts: dict[int, Account], config, pacing: Pacing) -> dict:
    """account id → (content, type) of the avatars wanted, fetched AVATAR_THREADS at a time (a Telegram photo is
    a Bot API call: paced with the bot's other calls)."""
    jobs = {aid: (accounts[aid].network, fig.avatar_url) for aid, fig in results.items()
            if aid in wanted and isinstance(fig, Figures) and fig.avatar_url}
    if not jobs:
        return {}
    def fetch(job: tuple[str, str]):
        if job[1].startswith("tg-file:"):
            pacing.for_token("telegram", str(config.get("TELEGRAM_BOT_TOKEN") or ""), tg_platform.RATE).wait()
        return avatars.fetch(job[0], job[1], config, client)

    with httpx.Client() as client, ThreadPoolExecutor(AVATAR_THREADS) as pool:
        fetched = dict(zip(jobs, pool.map(fetch, jobs.values()), strict=True))
    return {aid: got for aid, got in fetched.items() if got}


def _write(accounts: dict[int, Account], results: dict, now: datetime, day: date, summary: Summary,
           images: dict[int, tuple], progress) -> int:
    """Write a network's results, BATCH accounts a statement; a batch the database refuses is written again
    account by account, so only the account whose row is refused is marked."""
    items = [(accounts[aid], result) for aid, result in results.items() if aid in accounts]
    for start in range(0, len(items), BATCH):
        chunk = items[start:start + BATCH]
        # the last commit expired them: one query loads the batch again (not one per account)
        db.session.scalars(select(Account).where(Account.id.in_([a.id for a, _ in chunk]))).all()
        try:
            with db.session.begin_nested():
                _write_batch(chunk, now, day, images)
        except Exception:  # noqa: BLE001 — find the account the database refuses
            log.exception("collection: a batch of %d accounts not written; writing them one by one", len(chunk))
            for account, result in chunk:
                _write_one(account, result, now, day, images)
        for account, _ in chunk:
            outcome = Outcome(account.id, account.network, label(account), account.collect_error,
                              None if account.collect_error is None else _kind(results[account.id]))
            (summary.failed if outcome.error else summary.collected).append(outcome)
        db.session.commit()
        if progress is not None:
            progress(len(chunk))
    return len(items)


def _kind(result) -> str:
    return result.kind if isinstance(result, PlatformError) else "garbage"


def _write_one(account: Account, result, now: datetime, day: date, images: dict[int, tuple]) -> None:
    try:
        with db.session.begin_nested():
            _write_batch([(account, result)], now, day, images)
    except Exception as exc:  # noqa: BLE001 — the database refused this account's row: keep it on the account
        log.exception("collection: account %s not written", account.id)
        with db.session.begin_nested():
            record_failure(db.session.get(Account, account.id), PlatformError(
                f"Показатели получены, но не записаны ({exc.__class__.__name__}): сообщите администратору.",
                "garbage"), now)


def _seen_counts(accounts: list[Account]) -> dict[int, int]:
    """Posts published since each account was connected (one query for all)."""
    if not accounts:
        return {}
    rows = db.session.execute(
        select(Post.account_id, func.count(Post.id)).join(Account, Account.id == Post.account_id)
        .where(Post.account_id.in_([a.id for a in accounts]), Post.live(),
               or_(Account.connected_at.is_(None), Post.published_at >= Account.connected_at))
        .group_by(Post.account_id)).all()
    return {aid: n for aid, n in rows}


def _write_batch(items: list[tuple[Account, object]], now: datetime, day: date, images: dict[int, tuple]) -> None:
    done = [(a, f) for a, f in items if isinstance(f, Figures)]
    seen = _seen_counts([a for a, f in done if a.network in POSTS_SEEN or f.posts_total is None])
    snapshots, posts = [], []
    for account, figures in done:
        if account.network in POSTS_SEEN or figures.posts_total is None:
            count, source = seen.get(account.id, 0), "seen"
        else:
            count, source = figures.posts_total, "api"
        snapshots.append({"account_id": account.id, "taken_on": day, "followers": int(figures.followers),
                          "posts": int(count), "collected_at": now, "source": "collector"})
        posts += [{"account_id": account.id, "external_id": p.external_id, "published_at": p.published_at,
                   "text": p.text, "permalink": p.permalink, "media_count": p.media_count, "views": p.views,
                   "reactions": p.reactions, "comments": p.comments, "reposts": p.reposts, "metrics_at": now,
                   "source": "backfill"} for p in figures.posts]
        account.followers, account.posts, account.posts_source = figures.followers, count, source
        account.collected_at = now
        account.collect_error = None
        account.failing_since = None
        account.failure_notified_at = None
        if not account.title and figures.title:
            account.title = figures.title[:300]
        image = images.get(account.id)
        if image is not None:
            account.avatar_path = avatars.save(account.id, image[0], image[1], current_app.config["UPLOAD_DIR"])
            account.avatar_type = image[1]
    upsert_snapshots(snapshots)
    upsert_many(posts)
    for account, result in items:
        if isinstance(result, PlatformError):
            record_failure(account, result, now)
    db.session.flush()


def record_success(account: Account, figures: Figures, now: datetime, day: date, image: tuple | None = None) -> None:
    """One account's figures written (the day's snapshot, the account, its recent posts, its avatar)."""
    _write_batch([(account, figures)], now, day, {account.id: image} if image else {})


def record_failure(account: Account, error: PlatformError, now: datetime) -> None:
    account.collect_error = (error.message or "ошибка сбора")[:ERROR_MAX]
    account.collect_error_at = now
    if account.failing_since is None:
        account.failing_since = now
        account.failure_notified_at = None


# --- telling people ----------------------------------------------------------------------------------------
def failure_text(account: Account) -> str:
    tz = ZoneInfo(current_app.config["CITY_TZ"])
    since = account.failing_since.astimezone(tz) if account.failing_since else None
    where = NETWORK_LABELS.get(account.network, account.network)
    owner = account.institution.short_name if account.institution else ""
    return (f"Не удаётся собрать показатели аккаунта {where} «{label(account)}» ({owner})"
            + (f" с {since:%d.%m.%Y %H:%M}" if since else "") + f": {account.collect_error or 'причина неизвестна'}. "
            "Подписчики и публикации за эти дни не учтены — проверьте права бота или ключ доступа.")


def notify_failures(now: datetime | None = None) -> int:
    """Tell the participant's SMM users and the press service about accounts failing for a day, once per failure
    spell. Returns how many notifications were made. The caller commits."""
    now = now or utcnow()
    due = db.session.scalars(select(Account).where(
        Account.is_active.is_(True), Account.failing_since.isnot(None),
        Account.failing_since <= now - FAILURE_NOTICE_AFTER,
        or_(Account.failure_notified_at.is_(None), Account.failure_notified_at < Account.failing_since))
        .order_by(Account.id)).all()
    if not due:
        return 0
    press = db.session.scalars(select(User).where(User.role == "press", User.is_active_user.is_(True))).all()
    made = 0
    for account in due:
        smm = db.session.scalars(select(User).where(User.role == "smm", User.is_active_user.is_(True),
                                                    User.institution_id == account.institution_id)).all()
        text = failure_text(account)
        for user in {u.id: u for u in [*smm, *press]}.values():
            note = Notification(user_id=user.id, kind="account_failing", text=text, created_at=now)
            db.session.add(note)
            db.session.flush()
            replies.push_to_staff(note, now)
            made += 1
        account.failure_notified_at = now
    return made


def due_ids(now: datetime | None = None) -> list[tuple[int, str]]:
    """(id, network) of the accounts whose last attempt is older than COLLECT_EVERY_HOURS (or never made)."""
    now = now or utcnow()
    every = timedelta(hours=float(current_app.config.get("COLLECT_EVERY_HOURS") or 6))
    edge = now - every * 0.9  # a tick a little early still collects
    rows = db.session.execute(
        select(Account.id, Account.network, Account.collected_at, Account.collect_error_at)
        .where(Account.is_active.is_(True), Account.network.in_(NETWORKS), Account.external_id.isnot(None))
        .order_by(Account.id)).all()
    out = []
    for aid, net, ok_at, err_at in rows:
        last = max([t for t in (ok_at, err_at) if t is not None], default=None)
        if last is None or last <= edge:
            out.append((aid, net))
    return out
