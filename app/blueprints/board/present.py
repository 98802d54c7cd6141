"""What the board's templates call: the figure cards, the change against the previous period, the chart rows,
the board's URL with changed arguments. Registered as Jinja globals by app/templating.py."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app, has_request_context, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select

from app import formatting, fragments
from app.extensions import db
from app.formatting import fmt_value
from app.models import Direction, Institution
from app.services import access, board, refdata
from app.services.board.snapshots import _snapshot_key

RANKINGS_TEMPLATES = ("board/_rankings.html", "board/_ranking.html")
FIGURES_TEMPLATES = ("board/_figures.html", "_macros/charts.html")


def board_url(args: dict, **changes) -> str:
    """The board's URL with the current arguments and `changes` (empty values dropped)."""
    merged = {**args, **changes}
    return url_for("board.index", **{k: v for k, v in merged.items() if v not in (None, "")})


# The figure cards: (key in the report, label, format, which way is better).
FIGURES = (
    ("received", _l("Поступило"), "int", None),
    ("open", _l("Из них ещё не решено"), "int", "low"),
    ("overdue", _l("Из них просрочено"), "int", "low"),
    ("sla_share", _l("Решено в срок"), "pct", "high"),
    ("median_first_response", _l("Медиана первого ответа"), "duration", "low"),
    ("median_resolution", _l("Медиана решения"), "duration", "low"),
    ("mean_resolution_days", _l("Среднее время ответа"), "days", "low"),
    ("rating_avg", _l("Средняя оценка жителей"), "rating", "high"),
    ("good_share", _l("Оценок 4–5"), "pct", "high"),
    ("reopened_share", _l("Возвращено жителями"), "pct", "low"),
)


def change(current, previous, better: str | None, kind: str = "int") -> dict | None:
    """The change against the previous period: arrow and whether it is good news (None: neutral).
    Values that look the same on the page («70 %» and «70 %») are the same."""
    if current is None or previous is None:
        return None
    if current == previous or fmt_value(current, kind) == fmt_value(previous, kind):
        return {"arrow": "=", "good": None}
    up = current > previous
    good = None if better is None else (up if better == "high" else not up)
    return {"arrow": "▲" if up else "▼", "good": good}


def board_charts(data: dict) -> dict:
    """Rows for the bar charts (name, value, text) from a report."""
    directions = data["directions"]["ranked"] + data["directions"]["unranked"]
    answer_days = [{"name": d["name"], "value": round(d["figures"]["mean_resolution_days"], 1),
                    "text": fmt_value(d["figures"]["mean_resolution_days"], "days")}
                   for d in directions if d["figures"]["mean_resolution_days"] is not None]
    good = [{"name": d["name"], "value": round(d["figures"]["good_share"] * 100),
             "text": f"{d['figures']['good_share'] * 100:.0f} % ({d['figures']['rated']})"}
            for d in directions if d["figures"]["good_share"] is not None]
    growing = [{"name": g["name"], "value": g["current"],
                "text": f"{g['current']} ← {g['previous']}" + (f" (+{g['growth'] * 100:.0f} %)" if g["growth"] else "")}
               for g in data["growing"]]
    return {"answer_days": sorted(answer_days, key=lambda r: -r["value"]),
            "good": sorted(good, key=lambda r: r["value"]), "growing": growing}


_SAMPLE_ID = 8_675_309_024_681  # a stand-in id, written by url_for as its digits: where a row's id goes


class RankingLinks:
    """The ranking rows' URLs (`board/_ranking.html`): each kind's URL built once per rendering by url_for itself
    with a stand-in id, then a row's integer id written where the stand-in is — the same URLs as url_for and
    board_url per row (≈ 300 a rendering), without their per-call cost. Any other value: url_for."""

    def __init__(self, args: dict):
        self.args = args
        self._patterns: dict = {}

    def _url(self, kind: str, value) -> str:
        if kind == "figures":
            return board_url(self.args, institution=value, direction="")
        return url_for("queue.index", status="all", **{kind: value})

    def _build(self, kind: str, value) -> str:
        if type(value) is not int:
            return self._url(kind, value)
        parts = self._patterns.get(kind)
        if parts is None:
            parts = self._patterns[kind] = self._url(kind, _SAMPLE_ID).split(str(_SAMPLE_ID))
        if len(parts) != 2:  # the stand-in not written once as it is: no shortcut
            return self._url(kind, value)
        return f"{parts[0]}{value}{parts[1]}"

    def queue(self, level: str, value) -> str:
        """The queue of an institution's (level "institution") or a direction's tickets, every status."""
        return self._build("institution" if level == "institution" else "direction", value)

    def figures(self, value) -> str:
        """The board of one institution (the current view's period)."""
        return self._build("figures", value)


@dataclass(frozen=True)
class OptionList:
    """A filter's <option>s (after its blank one), each rendered once per reference data version as the template
    wrote them: `<option value="ID" >NAME</option>`, `selected` in that gap on the chosen one."""
    rows: tuple  # (id, option, the option selected)

    @classmethod
    def build(cls, rows, label: str) -> OptionList:
        return cls(tuple((r.id, f'<option value="{escape(r.id)}" >{escape(getattr(r, label))}</option>',
                          f'<option value="{escape(r.id)}" selected>{escape(getattr(r, label))}</option>')
                         for r in rows))

    def html(self, chosen) -> Markup:
        return Markup("".join(picked if i == chosen else plain for i, plain, picked in self.rows))


def choices() -> dict:
    """The filter's lists: the directions (id, name) and the active institutions (id, short name), and their
    <option>s (`direction_options`, `institution_options`: OptionList) — read and rendered once per reference data
    version and language (app/services/refdata.py), not 2 statements and ≈ 150 options a request."""
    def lists():
        directions = db.session.execute(select(Direction.id, Direction.name)
                                        .order_by(Direction.sort_order, Direction.id)).all()
        institutions = db.session.execute(select(Institution.id, Institution.short_name)
                                          .where(Institution.is_active.is_(True))
                                          .order_by(Institution.short_name)).all()
        return {"directions": directions, "institutions": institutions,
                "direction_options": OptionList.build(directions, "name"),
                "institution_options": OptionList.build(institutions, "short_name")}
    return {**refdata.memo(("board-choices",), lists), "period_kinds": board.PERIOD_KINDS}


PARTS = {"figures": FIGURES_TEMPLATES, "rankings": RANKINGS_TEMPLATES}


def _part_keys(user, period, scope) -> dict[str, str]:
    """The parts' row keys (app/fragments.py), worked out once per request (the page asks three times; kept on
    the request itself, not `g`: an application context may outlive one request)."""
    config = current_app.config
    vary = (user.role, config["BOARD_POLL_SECONDS"], config["CITY_TZ"])
    data_key = _snapshot_key(period, scope)
    memo = request.environ.setdefault("om.board.part_keys", {}) if has_request_context() else {}
    keys = memo.get((vary, data_key))
    if keys is None:
        keys = memo[(vary, data_key)] = {
            name: fragments.key(f"board-{name}", data_key, templates, vary, code=(__file__, formatting.__file__))
            for name, templates in PARTS.items()}
    return keys


# what the page reads of the report itself when its parts are kept: their version and the worklist's overdue count
SUMMARY = ("computed_at", "now")


def prefetch(user, period, scope) -> dict:
    """The view's kept parts and, of its snapshot, the moment and SUMMARY's fields only, in one statement (for
    `kept_summary` and `fragments_of`). Nothing for a user whose report is their own."""
    if not access.sees_every_ticket(user):
        return {}
    return fragments.prefetch(list(_part_keys(user, period, scope).values()), head=_snapshot_key(period, scope),
                              fields=SUMMARY)


def kept_summary(user, period, scope, kept: dict, now: datetime) -> dict | None:
    """SUMMARY's fields of the view's snapshot when it may be served now (young enough: the rule of
    `board.cached_report`) and every part of the page is kept at its version: all the page then reads of the
    report (not ≈ 130 KB of JSON decoded a request). None otherwise: the caller reads the whole report."""
    head = kept.get(_snapshot_key(period, scope))
    if head is None or not board.young_enough(period, head.computed_at, now):
        return None
    if any(head.data.get(name) is None for name in SUMMARY):
        return None
    version = datetime.fromisoformat(head.data["computed_at"])
    if not all(fragments.is_current(kept.get(row_key), version)
               for row_key in _part_keys(user, period, scope).values()):
        return None
    return head.data


def fragments_of(user, state: dict, method: dict, *, fresh: bool = False,
                 kept: dict | None = None) -> dict[str, Markup]:
    """The parts of the page that depend only on the report, the language and the view's arguments: the figures
    and charts (`figures`) and the ranking tables with how the place is computed (`rankings`: 137 institutions,
    8 directions). A city-wide report's parts are rendered once per report (its snapshot key and the moment it was
    computed: a new snapshot is a new version) and shared by every viewer and process (app/fragments.py); `kept`:
    `prefetch`'s rows (else both parts are read in one statement here). A report computed for one user's view, or
    on demand (`fresh`), is rendered for that request only."""
    context = {"data": state["data"], "args": state["args"], "method": method, "period": state["period"],
               "previous": state["previous"], "links": RankingLinks(state["args"])}

    def renderer(name: str):
        return lambda: render_template(PARTS[name][0], **context)

    if fresh or not access.sees_every_ticket(user):
        return {name: Markup(renderer(name)()) for name in PARTS}
    data_key = _snapshot_key(state["period"], state["scope"])
    version = datetime.fromisoformat(state["data"]["computed_at"])
    keys = _part_keys(user, state["period"], state["scope"])
    if kept is None:
        kept = fragments.prefetch(list(keys.values()))
    return {name: fragments.cached(f"board-{name}", data_key, version, renderer(name), row_key=keys[name], kept=kept)
            for name in PARTS}
