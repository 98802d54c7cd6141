"""What the staff page /rating and its XLSX export show (issue 14, items 3 and 5): each direction's standing
(standing.py: frozen, kept or computed now), every component as the page shows it (value, unit), the laggards,
the «проверить накрутку» rises still to look at, the drill-down of one participant."""
from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import fragments
from app.extensions import db
from app.models import Direction, Institution, RatingSnapshotRow
from app.services import refdata
from app.services.board.periods import Period
from app.services.rating import standing as standing_mod
from app.services.rating.composite import CHECK_GROWTH, FEW_DATA, TOP
from app.services.rating.figures import figures

SILENCE_DAYS = standing_mod.SILENCE_DAYS

# (key, label, export header, field of the plain figures, scale, ranked component or None)
COLUMNS = (
    ("audience", _l("Подписчики"), "Подписчики на конец", "audience_end", None, "audience"),
    ("growth", _l("Прирост, %"), "Прирост, %", "growth_pct", 1, "growth"),
    ("growth_people", _l("Прирост, чел."), "Прирост, чел.", "growth", None, None),
    ("posts_per_week", _l("Постов в неделю"), "Постов в неделю", "posts_per_week", 1, "posts_per_week"),
    ("post_days", _l("Дней с постами"), "Дней с постами", "post_days", None, None),
    ("silence", _l("Молчание, дн."), "Самое долгое молчание, дн.", "longest_silence", None, "silence"),
    ("err", _l("ERR, %"), "ERR, %", "err", 100, "err"),
    ("er", _l("ER, %"), "ER, %", "er", 100, "er"),
    ("appeals", _l("Обращений"), "Обращений", "appeals", None, None),
    ("on_time", _l("В срок, %"), "В срок, %", "on_time_share", 100, "on_time"),
    ("first_response", _l("Первый ответ, ч"), "Медиана первого ответа, ч", "median_first_response", 1 / 3600,
     "first_response"),
    ("rating", _l("Оценка"), "Средняя оценка", "rating_avg", 1, "rating"),
    ("reopened", _l("Переоткрыто, %"), "Доля переоткрытых, %", "reopened_share", 100, "reopened"),
)
FLAG_LABELS = {FEW_DATA: _l("мало данных"), CHECK_GROWTH: _l("проверить накрутку")}


def value(f: dict, column) -> float | int | None:
    """A component as the page and the export show it (from the plain figures): None when missing, numbers
    rounded to 0.1."""
    _key, _label, _header, name, scale, _comp = column
    v = f.get(name)
    if v is None:
        return None
    if scale is None:
        return int(v)
    return round(v * scale, 1)


def directions() -> list[Direction]:
    return db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id)).all()


def reasons(f: dict) -> list:
    """The laggard reasons of a row, worded."""
    out = []
    for code in f.get("laggard") or ():
        if code == standing_mod.SILENT:
            out.append(_l("нет постов 30 дней"))
        elif code == standing_mod.FALLING:
            out.append(_l("аудитория падает"))
        elif code == standing_mod.OVERDUE:
            out.append(_l("просрочены обращения: %(n)s", n=f.get("overdue") or 0))
    return out


def sections(direction_list: list[Direction], period: Period, now: datetime | None = None, *,
             force: bool = False) -> list[dict]:
    """For each direction: its standing's rows (top3 marked), the participants by id (id, short_name, slug), the
    laggards and the rises to look at."""
    # the kept computations of every direction in one statement, their data held per process by version
    # (app/fragments.py: not ≈ 85 KB of JSON decoded a request)
    keys = {d.id: standing_mod.key(period, d.id) for d in direction_list}
    rows = fragments.prefetch(list(keys.values())) if not force else {}
    kept = [(d, standing_mod.standing(d.id, period, now, force=force, kept=rows.get(keys[d.id])))
            for d in direction_list]
    ids = {r["institution_id"] for _d, s in kept for r in s["rows"]} | \
          {j["institution_id"] for _d, s in kept for j in s["jumps"]}
    # what the page and the export show of a participant: its id, short name and address (rows, not whole objects),
    # read once per reference data version (app/services/refdata.py)
    every = refdata.memo(("rating-names",), lambda: {i.id: i for i in db.session.execute(
        select(Institution.id, Institution.short_name, Institution.slug))})
    names = {i: every[i] for i in ids if i in every}
    out = []
    for d, s in kept:
        rows = [dict(r, top3=r["place"] is not None and r["place"] <= TOP, change=r["figures"].get("change"),
                     previous_place=r["figures"].get("previous_place"))
                for r in s["rows"] if r["institution_id"] in names]
        out.append({"direction": d, "rows": rows, "names": names, "frozen": s["frozen"],
                    "computed_at": datetime.fromisoformat(s["computed_at"]),
                    "laggards": [(names[r["institution_id"]], reasons(r["figures"])) for r in rows
                                 if r["figures"].get("laggard")],
                    "jumps": [dict(j, day=date.fromisoformat(j["day"]), institution=names[j["institution_id"]])
                              for j in s["jumps"] if j["institution_id"] in names]})
    return out


def _figures_of(institution: Institution, period: Period, now: datetime | None) -> dict:
    """The participant's figures over `period`: its frozen row when the period is a frozen month / quarter / year
    (the table shows the frozen rating: the drill-down must agree with it), else computed now."""
    snap = standing_mod.frozen_snapshot(institution.direction_id, period)
    if snap is not None:
        row = db.session.scalar(select(RatingSnapshotRow).where(RatingSnapshotRow.snapshot_id == snap.id,
                                                               RatingSnapshotRow.institution_id == institution.id))
        if row is not None:
            return dict(row.figures)
    return standing_mod.plain(figures(institution, period, now=now))


def drill(institution: Institution, period: Period, now: datetime | None = None) -> list[tuple]:
    """(label, this period, previous period) per component for one participant."""
    cur = _figures_of(institution, period, now)
    prev = _figures_of(institution, period.previous(), now)
    return ([(c[1], value(cur, c), value(prev, c)) for c in COLUMNS]
            + [(_l("Постов"), cur.get("posts"), prev.get("posts"))])
