"""Open statistics of residents' appeals: the public page /stats (and its CSV / XLSX), and the «как отвечает
жителям» block of a participant's public page.

Counted figures only: nothing here reads a resident, a text, an address or a phone — the page cannot show what
it never had. Every figure is the board's (app/services/board, definitions in its docstring): received,
resolved, on time, mean answer time, ratings, the counted tickets (`board.counted()`: merged duplicates and
noise are not appeals) and the federal targets (`board.TARGET_MEAN_DAYS`, `board.TARGET_GOOD_SHARE`). This
module only chooses what to publish and keeps it:

* the city's and each direction's figures are the board's report (`board.cached_report`, which serves the
  board's own snapshots of the standard periods, kept fresh by its jobs);
* by rubric: `board.aggregate` grouped by the ticket's category;
* by month: the board's per-period conditions and aggregate columns (`board._conditions`,
  `board._aggregate_columns`) for each of the 12 months, in one pass.

A public page may be hit by anyone, so a computed set of figures is kept in `board_snapshots` (key
«open|…» / «feedback|…») and served for STATS_MAX_AGE seconds; the snapshot is stored by a job
(`board.keep_later`: the GET writes nothing). Fresh computations are bounded city-wide by
STATS_COMPUTE_PER_MINUTE (a Redis counter): past it, an older snapshot of the same view is served, or the
visitor is asked to come back in a minute (`Busy`, 429). Without Redis (the embedded demo) there is no bound.
"""
from __future__ import annotations

import csv
import io
import logging
import time as clock
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from redis.exceptions import RedisError
from sqlalchemy import and_, or_, select

from app.extensions import db
from app.jobs import redis_connection
from app.models import BoardSnapshot, Category, Direction, Institution, Ticket, utcnow
from app.services import access, board, exports
from app.services.board import Period, Scope
from app.services.errors import DomainError

log = logging.getLogger(__name__)

# The periods a visitor picks (the board's own, without «today» and «week»).
PERIOD_KINDS = {k: board.PERIOD_KINDS[k] for k in ("month", "quarter", "year", "custom")}
MONTHS = 12  # the monthly chart: the 12 months up to the period's end
FEEDBACK_MONTHS = 12  # a participant's block: the last 12 months
# The board's viewpoint for public figures: every counted ticket, no personal data read.
PUBLIC = board._Everyone()


class Busy(DomainError):
    """Too many fresh computations this minute and no earlier figures of this view to show."""

    status_code = 429


# --- the request's filters -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Filters:
    period: Period
    scope: Scope
    errors: tuple[str, ...]

    @property
    def args(self) -> dict:
        """The canonical query string of this view (what the links and downloads carry)."""
        out: dict = {"period": self.period.kind}
        if self.period.kind == "custom":
            out.update({"from": self.period.start.isoformat(), "to": self.period.end.isoformat()})
        if self.scope.direction_id is not None:
            out["direction"] = self.scope.direction_id
        return out


def parse(args, now: datetime | None = None) -> Filters:
    """Period (month, quarter, year or the visitor's dates) and direction from the query string. Anything else
    is ignored; a bad value gives the default (this month, every direction) and a Russian reason."""
    now = now or utcnow()
    period_args = {name: str(args.get(name) or "") for name in ("period", "from", "to")}
    errors: list[str] = []
    if period_args["period"] and period_args["period"] not in PERIOD_KINDS:
        errors.append(_("Неизвестный период — показан текущий месяц"))
        period_args["period"] = ""
    if period_args["period"] == "custom" and not (period_args["from"] or period_args["to"]):
        period_args["period"] = ""  # «свой период» chosen without dates: the default, no complaint
    period, period_errors = board.parse_period(period_args, now)
    scope, scope_errors = board.parse_scope({"direction": str(args.get("direction") or "")})
    return Filters(period, Scope(direction_id=scope.direction_id),
                   tuple(errors + [_(e) for e in period_errors + scope_errors]))


# --- the figures ---------------------------------------------------------------------------------------
def _fresh(snap: BoardSnapshot | None, now: datetime, max_age: int) -> bool:
    return snap is not None and timedelta(0) <= now - snap.computed_at <= timedelta(seconds=max_age)


def may_compute() -> bool:
    """Take one fresh computation from this minute's city-wide budget (STATS_COMPUTE_PER_MINUTE, Redis).
    No Redis, a limit of 0 or Redis down: allowed (logged when down)."""
    limit = int(current_app.config.get("STATS_COMPUTE_PER_MINUTE") or 0)
    if limit <= 0 or not current_app.config.get("REDIS_URL"):
        return True
    key = f"openstats:computed:{int(clock.time() // 60)}"
    try:
        conn = redis_connection()
        n = conn.incr(key)
        if n == 1:
            conn.expire(key, 120)
    except RedisError:
        log.exception("open statistics: the computation budget is unavailable")
        return True
    return n <= limit


# Part of every snapshot key: a change in the shape of the published dict starts new keys (an old snapshot
# is never served to a template that expects the new shape).
SHAPE = "v1"


def _served(key: str, compute, now: datetime, bounded: bool = True):
    """The snapshot `key` when young enough, else computed now and kept by a job. `bounded`: the computation
    takes one from the minute's budget (the visitor chooses the view); a participant's block is not bounded
    (one key per participant a day, and the participant's page must not fail)."""
    key = f"{key}|{SHAPE}"
    snap = db.session.get(BoardSnapshot, key)
    if _fresh(snap, now, current_app.config["STATS_MAX_AGE"]):
        return snap.data
    if bounded and not may_compute():
        if snap is not None:
            return snap.data  # older than usual, but the same view
        raise Busy("Статистику сейчас запрашивают слишком часто. Повторите через минуту.")
    data = compute()
    board.keep_later(key, data, now)
    return data


def city_stats(filters: Filters, now: datetime | None = None) -> dict:
    """The published figures of a view (see `compute`), from a snapshot or computed."""
    now = now or utcnow()
    key = f"open|{filters.period.key}|{filters.scope.key}"
    return _served(key, lambda: compute(filters.period, filters.scope, now), now)


def _public(f: dict) -> dict:
    """The published subset of a board figure set (`Figures.as_dict()`)."""
    return {k: f.get(k) for k in ("received", "resolved", "on_time", "sla_share", "mean_resolution_days",
                                  "rated", "rating_avg", "good", "good_share")}


def compute(period: Period, scope: Scope, now: datetime | None = None) -> dict:
    """Everything /stats publishes, as a JSON-able dict:
    period, previous_period {"kind", "start", "end"}; direction_id; computed_at (ISO, UTC);
    current, previous: {"received", "resolved", "on_time", "sla_share", "mean_resolution_days", "rated",
    "rating_avg", "good", "good_share"} (shares 0…1, days, None when nothing to divide);
    directions, categories: [{"id", "name", **figures}]; monthly: [{"month" (YYYY-MM), "start", "end",
    "received", "resolved", "on_time", "sla_share", "mean_resolution_days"}];
    targets: {"mean_days", "good_share"}."""
    now = now or utcnow()
    report = board.cached_report(PUBLIC, period, scope, now=now)
    by_dir = {r["id"]: r["figures"] for r in report["directions"]["ranked"] + report["directions"]["unranked"]}
    empty = board.Figures().as_dict()
    directions = []
    for d in db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id)):
        if scope.direction_id is None or d.id == scope.direction_id:
            directions.append({"id": d.id, "name": d.name, **_public(by_dir.get(d.id, empty))})
    if scope.direction_id is None and None in by_dir:
        directions.append({"id": None, "name": str(_l("Не распределено")), **_public(by_dir[None])})
    return {
        "period": report["period"], "previous_period": report["previous_period"],
        "direction_id": scope.direction_id, "computed_at": now.isoformat(),
        "current": _public(report["current"]), "previous": _public(report["previous"]),
        "directions": directions,
        "categories": by_category(period, scope, now),
        "monthly": monthly(period.end, scope, now),
        "targets": {"mean_days": board.TARGET_MEAN_DAYS, "good_share": board.TARGET_GOOD_SHARE},
    }


def by_category(period: Period, scope: Scope, now: datetime) -> list[dict]:
    """The period's figures per rubric (the board's aggregate grouped by category), most received first."""
    figures = board.aggregate(PUBLIC, *period.bounds(board.city_tz()), scope, Ticket.category_id, now)
    names = dict(db.session.execute(select(Category.id, Category.name)).all())
    rows = [{"id": cid, "name": names.get(cid) or str(_l("Без рубрики")), **_public(f.as_dict())}
            for cid, f in figures.items() if f.received or f.resolved or f.rated]
    rows.sort(key=lambda r: (-r["received"], -r["resolved"], r["name"]))
    return rows


_MONTHLY = ("received", "resolved", "on_time", "resolution_seconds", "sla_resolved")


def monthly(end_day: date, scope: Scope, now: datetime, months: int = MONTHS) -> list[dict]:
    """Received, resolved, on time and mean answer time per calendar month (city time), the `months` months up
    to the one of `end_day`: the board's conditions and aggregate columns per month, one pass over the tickets
    created or resolved in those months."""
    tz = board.city_tz()
    first = end_day.replace(day=1)
    starts = [board._add_months(first, i - months + 1) for i in range(months)]
    edges = [datetime.combine(d, time(0), tz) for d in starts + [board._add_months(first, 1)]]
    pick = [board._COUNTS.index(name) for name in _MONTHLY]
    cols = []
    for a, b in zip(edges, edges[1:], strict=False):
        every = board._aggregate_columns(board._conditions(a, b, now), False)
        cols += [every[i] for i in pick]
    lo, hi = edges[0], edges[-1]
    stmt = select(*cols).select_from(Ticket).where(
        or_(and_(Ticket.created_at >= lo, Ticket.created_at < hi), and_(Ticket.resolved_at >= lo,
                                                                        Ticket.resolved_at < hi)),
        board.counted(), *scope.conditions())
    row = db.session.execute(access.visible_tickets(PUBLIC, stmt)).one()
    out = []
    for i, start in enumerate(starts):
        values = row[i * len(_MONTHLY):(i + 1) * len(_MONTHLY)]
        f = board.Figures(received=int(values[0] or 0), resolved=int(values[1] or 0), on_time=int(values[2] or 0),
                          resolution_seconds=float(values[3] or 0), sla_resolved=int(values[4] or 0))
        last = board._add_months(start, 1) - timedelta(days=1)
        out.append({"month": start.strftime("%Y-%m"), "start": start.isoformat(), "end": last.isoformat(),
                    "received": f.received, "resolved": f.resolved, "on_time": f.on_time,
                    "sla_share": f.sla_share, "mean_resolution_days": f.mean_resolution_days})
    return out


# --- a participant's block -----------------------------------------------------------------------------
def feedback_period(now: datetime | None = None) -> Period:
    """The last FEEDBACK_MONTHS months to today (city time)."""
    end = board.today(now)
    return Period("custom", board._add_months(end, -FEEDBACK_MONTHS) + timedelta(days=1), end)


def participant_feedback(institution, period: Period | None = None, now: datetime | None = None) -> dict | None:
    """How a participant answers residents — appeals received, resolved, the share resolved on time, the mean
    rating — over `period` (default: the last 12 months); counted appeals only. None when the participant does
    not receive appeals or does not publish this (`Institution.receives_appeals`, `public_feedback`).
    `institution`: an Institution or its id. Served from the snapshot `refresh_steps` keeps for every
    participant; computed here (and kept) only when it is missing or old."""
    inst = institution if isinstance(institution, Institution) else db.session.get(Institution, int(institution))
    if inst is None or not inst.receives_appeals or not inst.public_feedback:
        return None
    now = now or utcnow()
    period = period or feedback_period(now)

    def compute_one() -> dict:
        scope = Scope(institution_id=inst.id)
        return _feedback(board.aggregate(PUBLIC, *period.bounds(board.city_tz()), scope, None, now)[None],
                         period, now)

    return _served(_feedback_key(inst.id, period), compute_one, now, bounded=False)


def _feedback_key(institution_id: int, period: Period) -> str:
    return f"feedback|{institution_id}|{period.key}"


def _feedback(f: board.Figures, period: Period, now: datetime) -> dict:
    return {"period": {"start": period.start.isoformat(), "end": period.end.isoformat(),
                       "from": period.start.strftime("%d.%m.%Y"), "to": period.end.strftime("%d.%m.%Y")},
            "computed_at": now.isoformat(), **_public(f.as_dict())}


# --- kept fresh by a job -------------------------------------------------------------------------------
REFRESHED_KINDS = ("month", "quarter", "year")


def refresh_steps(now: datetime | None = None) -> Iterator[str]:
    """What most visitors ask for, computed ahead (the job `app.jobs.stats.refresh`, every 5 minutes; it commits
    at each yield): every publishing participant's block at once (one grouped pass), then the city's month,
    quarter and year (whose board parts come from the board's own snapshots)."""
    now = now or utcnow()
    period = feedback_period(now)
    figures = board.aggregate(PUBLIC, *period.bounds(board.city_tz()), Scope(), Ticket.institution_id, now)
    for inst_id in db.session.scalars(select(Institution.id).where(Institution.receives_appeals.is_(True),
                                                                   Institution.public_feedback.is_(True))):
        board.keep(f"{_feedback_key(inst_id, period)}|{SHAPE}",
                   _feedback(figures.get(inst_id, board.Figures()), period, now), now)
    yield "feedback"
    on = board.today(now)
    for kind in REFRESHED_KINDS:
        p, scope = board.standard_period(kind, on), Scope()
        key = f"open|{p.key}|{scope.key}|{SHAPE}"
        board.keep(key, compute(p, scope, now), now)
        yield key


# --- downloads -----------------------------------------------------------------------------------------
# One table for CSV and XLSX: a row per figure set, «Раздел» says which (the whole period, a direction, a
# rubric, a month). Values in the units the page shows: percent, days.
HEADERS = ("Раздел", "Название", "Период с", "Период по", "Поступило", "Решено", "Решено в срок",
           "Решено в срок, %", "Среднее время ответа, дн.", "Оценок", "Средняя оценка", "Оценок 4–5, %")
KINDS = ("text", "text", "date", "date", "int", "int", "int", "int", "int", "int", "int", "int")


def _pct(v):
    return None if v is None else round(v * 100, 1)


def _one(v, digits: int = 1):
    return None if v is None else round(v, digits)


def rows(data: dict):
    """The download's rows: the period, each direction, each rubric, each month."""
    start, end = date.fromisoformat(data["period"]["start"]), date.fromisoformat(data["period"]["end"])

    def row(section, name, a, b, f, ratings=True):
        return (section, name, a, b, f["received"], f["resolved"], f["on_time"], _pct(f["sla_share"]),
                _one(f["mean_resolution_days"]), f["rated"] if ratings else None,
                _one(f["rating_avg"], 2) if ratings else None, _pct(f["good_share"]) if ratings else None)

    yield row("Итого", "Все обращения", start, end, data["current"])
    for d in data["directions"]:
        yield row("Направление", d["name"], start, end, d)
    for c in data["categories"]:
        yield row("Рубрика", c["name"], start, end, c)
    for m in data["monthly"]:
        yield row("Месяц", m["month"], date.fromisoformat(m["start"]), date.fromisoformat(m["end"]), m,
                  ratings=False)


def _csv_cell(value) -> str:
    """Russian Excel's CSV: decimal comma, dates DD.MM.YYYY; text that could start a formula is quoted with «'»."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",") if value % 1 else str(int(value))
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_bytes(data: dict) -> bytes:
    """The CSV download: UTF-8 with a BOM (Excel recognises it), «;» between fields and a decimal comma (what
    Excel expects in a Russian locale), CRLF line ends."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for r in rows(data):
        writer.writerow([_csv_cell(v) for v in r])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(data: dict, direction_name: str | None) -> bytes:
    """The XLSX download (the one writer, app/services/exports.py): «Параметры», then the same table."""
    start, end = date.fromisoformat(data["period"]["start"]), date.fromisoformat(data["period"]["end"])
    filters = [("Период", f"{start:%d.%m.%Y} — {end:%d.%m.%Y}"),
               ("Направление", direction_name or "все направления")]
    about = exports.About(what="Открытая статистика обращений жителей", by="открытые данные (без персональных данных)",
                          filters=filters, at=datetime.fromisoformat(data["computed_at"]))
    sheet = exports.Sheet("Статистика", HEADERS, rows(data), KINDS, (14, 40, 12, 12))
    return exports.workbook([sheet], about)


def filename(data: dict, ext: str) -> str:
    start, end = date.fromisoformat(data["period"]["start"]), date.fromisoformat(data["period"]["end"])
    return f"Статистика обращений {start:%d.%m.%Y}-{end:%d.%m.%Y}.{ext}"


def direction_name(direction_id: int | None) -> str | None:
    if direction_id is None:
        return None
    d = db.session.get(Direction, direction_id)
    return d.name if d else None


def direction_choices() -> list[Direction]:
    return db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id)).all()
