"""A direction's standing over a period as plain data — what the page, the export, the digest and the frozen rating
all read (issue 14, items 3–5), from one of three places:

* a closed month / quarter / year that has been frozen: its stored rows, as they were (`frozen.py`);
* otherwise the kept computation (the `board_snapshots` table, key ``rating|<period>|d<direction>``) while it is
  younger than RATING_SNAPSHOT_MAX_AGE — the job `app.jobs.rating.refresh` recomputes this month, quarter and year
  of every direction every 10 minutes, so the page reads one row per direction;
* otherwise computed now (`compute`), and kept by the low queue for the next viewer (the page writes nothing).

A standing (a dict, JSON as kept): direction_id, period [kind, start, end], computed_at (ISO), frozen (bool), rows
(the composite's rows: institution_id, place, score, flags, ranks, of, figures — plain numbers with
previous_place, change, overdue and the laggard reasons), jumps (the uncleared «проверить накрутку» rises).
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from app.extensions import db
from app.jobs import enqueue
from app.models import Account, BoardSnapshot, Direction, Post, RatingSnapshot, RatingSnapshotRow, utcnow
from app.services.board.periods import Period, _add_months, _month_end, city_tz, standard_period
from app.services.board.periods import today as city_today
from app.services.board.reporting import _store
from app.services.errors import ValidationFailed
from app.services.rating.composite import RatingRow, implausible_jumps, rank_period
from app.services.rating.figures import Figures

log = logging.getLogger(__name__)

SILENCE_DAYS = 30  # a laggard: no post for this many days
STANDARD = ("month", "quarter", "year")
KEY_PREFIX = "rating|"
# Figures kept as plain numbers (the frozen rows, the kept computations), in the marked export's order, with their
# Russian headers.
FIGURE_FIELDS = {
    "audience_end": "Подписчики на конец", "audience_start": "Подписчики на начало", "growth": "Прирост, чел.",
    "growth_pct": "Прирост, %", "posts": "Постов", "posts_per_week": "Постов в неделю",
    "post_days": "Дней с постами", "longest_silence": "Самое долгое молчание, дн.", "err": "ERR (медиана)",
    "er": "ER (медиана)", "appeals": "Обращений", "on_time_share": "В срок, доля",
    "median_first_response": "Медиана первого ответа, с", "rating_avg": "Средняя оценка",
    "reopened_share": "Доля переоткрытых",
}
# Laggard reasons (codes kept in figures["laggard"]; the page words them).
SILENT, FALLING, OVERDUE = "silent", "falling", "overdue"


def plain(f: Figures) -> dict:
    """A participant's figures as plain numbers (JSON), with the components it lacks and its overdue appeals."""
    out = {name: getattr(f, name) for name in FIGURE_FIELDS}
    out["missing"] = sorted(f.missing)
    out["overdue"] = f.feedback.overdue if f.feedback is not None else None
    return out


def key(period: Period, direction_id: int) -> str:
    return f"{KEY_PREFIX}{period.key}|d{direction_id}"


def last_posts(institution_ids: list[int]) -> dict[int, datetime]:
    """Each participant's latest live post (any time)."""
    if not institution_ids:
        return {}
    rows = db.session.execute(
        select(Account.institution_id, func.max(Post.published_at)).join(Post, Post.account_id == Account.id)
        .where(Account.institution_id.in_(institution_ids), Account.shown(), Post.live())
        .group_by(Account.institution_id))
    return dict(rows.all())


def laggard_reasons(f: dict, last_post: datetime | None, on: date) -> list[str]:
    """Why a participant lags on the day `on` (the period's end, or today while it runs): no post for 30 days (a
    silence of 30 days in the period, or none in the 30 days up to `on`), audience falling, appeals overdue."""
    why = []
    since = on - timedelta(days=SILENCE_DAYS - 1)
    if (f.get("longest_silence") or 0) >= SILENCE_DAYS or last_post is None \
            or last_post.astimezone(city_tz()).date() < since:
        why.append(SILENT)
    if f.get("growth") is not None and f["growth"] < 0:
        why.append(FALLING)
    if f.get("overdue"):
        why.append(OVERDUE)
    return why


def row_dict(r: RatingRow) -> dict:
    return {"institution_id": r.institution_id, "place": r.place, "score": r.score, "flags": sorted(r.flags),
            "ranks": dict(r.ranks), "of": dict(r.of), "figures": plain(r.figures)}


def previous_places(direction_id: int, period: Period, now: datetime) -> dict[int, int | None]:
    """Places over `period` (the previous one of the page's): the frozen rating when it is a frozen whole
    month / quarter / year, else ranked now."""
    snap = frozen_snapshot(direction_id, period)
    if snap is not None:
        return dict(db.session.execute(select(RatingSnapshotRow.institution_id, RatingSnapshotRow.place)
                                       .where(RatingSnapshotRow.snapshot_id == snap.id)).all())
    rows, _ = rank_period(direction_id, period, city_today(now), now)
    return {r.institution_id: r.place for r in rows}


def jump_rows(jumps: dict[int, list]) -> list[dict]:
    """The jumps as the page lists them: participant, account (network, title), day, followers before and after."""
    ids = sorted({a for found in jumps.values() for a, *_ in found})
    accounts = {a.id: a for a in db.session.scalars(select(Account).where(Account.id.in_(ids)))} if ids else {}
    out = []
    for inst, found in sorted(jumps.items()):
        for account_id, day, before, after in found:
            a = accounts.get(account_id)
            out.append({"institution_id": inst, "account_id": account_id, "network": a.network if a else "",
                        "account": (a.title or a.handle or "") if a else "", "day": day.isoformat(),
                        "before": before, "after": after})
    return out


def compute(direction_id: int, period: Period, now: datetime | None = None) -> dict:
    """The direction's standing over `period`, computed now."""
    now = now or utcnow()
    on = city_today(now)
    rows, jumps = rank_period(direction_id, period, on, now)
    was = previous_places(direction_id, period.previous(), now)
    last = last_posts([r.institution_id for r in rows])
    until = min(period.end, on)
    out = []
    for r in rows:
        d = row_dict(r)
        prev = was.get(r.institution_id)
        d["figures"]["previous_place"] = prev
        d["figures"]["change"] = prev - r.place if prev is not None and r.place is not None else None
        d["figures"]["laggard"] = laggard_reasons(d["figures"], last.get(r.institution_id), until)
        out.append(d)
    return {"direction_id": direction_id, "period": [period.kind, period.start.isoformat(), period.end.isoformat()],
            "computed_at": now.isoformat(), "frozen": False, "rows": out, "jumps": jump_rows(jumps)}


def frozen_snapshot(direction_id: int, period: Period) -> RatingSnapshot | None:
    """The frozen rating of `period` when it is a whole month / quarter / year that has been frozen."""
    if period.kind not in STANDARD or standard_whole(period) != period:
        return None
    return db.session.scalar(select(RatingSnapshot).where(RatingSnapshot.kind == period.kind,
                                                          RatingSnapshot.start == period.start,
                                                          RatingSnapshot.direction_id == direction_id))


def standard_whole(period: Period) -> Period:
    """The whole month / quarter / year `period` starts in."""
    return full_period(period.kind, period.start)


class RatingError(ValidationFailed, ValueError):
    """A request the rating cannot do (an open period, an unknown participant): `.message` says why, in the
    staff's language (a Russian template with named parameters, services/errors.DomainError)."""


def full_period(kind: str, start: date) -> Period:
    """The whole month / quarter / year beginning on `start` (normalised to the period's first day)."""
    if kind == "month":
        first = start.replace(day=1)
        return Period(kind, first, _month_end(first))
    if kind == "quarter":
        first = date(start.year, 3 * ((start.month - 1) // 3) + 1, 1)
        return Period(kind, first, _month_end(_add_months(first, 2)))
    if kind == "year":
        return Period(kind, date(start.year, 1, 1), date(start.year, 12, 31))
    raise RatingError("Замораживается только месяц, квартал или год, а не «%(kind)s».", kind=kind)


def from_frozen(snap: RatingSnapshot) -> dict:
    rows = db.session.scalars(select(RatingSnapshotRow).where(RatingSnapshotRow.snapshot_id == snap.id)).all()
    rows = sorted(rows, key=lambda r: (r.place is None, r.place or 0, r.institution_id))
    period = Period(snap.kind, snap.start, snap.end)
    return {"direction_id": snap.direction_id, "period": [snap.kind, snap.start.isoformat(), snap.end.isoformat()],
            "computed_at": snap.frozen_at.isoformat(), "frozen": True,
            "rows": [{"institution_id": r.institution_id, "place": r.place, "score": r.score, "flags": list(r.flags),
                      "ranks": dict(r.ranks), "of": dict((r.figures or {}).get("of") or {}),
                      "figures": dict(r.figures)} for r in rows],
            # the rises still uncleared today (a clearance after freezing re-freezes a rating nobody marked yet)
            "jumps": jump_rows(implausible_jumps([r.institution_id for r in rows], period))}


_UNREAD = object()


def standing(direction_id: int, period: Period, now: datetime | None = None, *, force: bool = False,
             kept=_UNREAD) -> dict:
    """The direction's standing: frozen, kept (young enough) or computed now (and kept by a job). `kept`: its kept
    row when the caller has read it already (fragments.prefetch's, or None: none kept); else read here."""
    now = now or utcnow()
    snap = frozen_snapshot(direction_id, period)
    if snap is not None:
        return from_frozen(snap)
    k = key(period, direction_id)
    if kept is _UNREAD:
        kept = db.session.get(BoardSnapshot, k)
    max_age = timedelta(seconds=current_app.config["RATING_SNAPSHOT_MAX_AGE"])
    if kept is not None and not force and timedelta(0) <= now - kept.computed_at <= max_age:
        return kept.data
    data = compute(direction_id, period, now)
    try:
        enqueue("app.jobs.board.keep_snapshot", k, data, now.isoformat(), queue="low")
    except Exception:  # Redis down: the periodic refresh keeps the standard periods anyway
        log.exception("could not ask for the rating %s to be kept", k)
    return data


def refresh(now: datetime | None = None):
    """Recompute this month, quarter and year of every direction (the job commits at each yield)."""
    now = now or utcnow()
    on = city_today(now)
    for direction_id in db.session.scalars(select(Direction.id).order_by(Direction.sort_order, Direction.id)).all():
        for kind in STANDARD:
            period = standard_period(kind, on)
            k = key(period, direction_id)
            _store(k, compute(direction_id, period, now), now)
            yield k


def forget(direction_id: int | None = None) -> None:
    """Drop the kept computations (of one direction, or all): after a person cleared a jump. The caller commits."""
    stmt = delete(BoardSnapshot).where(BoardSnapshot.key.startswith(KEY_PREFIX, autoescape=True))
    if direction_id is not None:
        stmt = stmt.where(BoardSnapshot.key.endswith(f"|d{direction_id}", autoescape=True))
    db.session.execute(stmt)

