"""The head's control board: /board (figures, problem issues, rankings, charts), hot spots, the XLSX export."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.formatting import fmt_value
from app.htmx import render
from app.models import Direction, HotSpot, Institution, utcnow
from app.services import access, board, control, exports
from app.services.board import export as board_export
from app.services.board import hotspots, worklist
from app.services.errors import NotFound

bp = Blueprint("board", __package__, url_prefix="/board")


@bp.before_request
@login_required
def require_board_role():
    if not access.can_see_board(current_user):
        abort(403)


def _state(force: bool = False) -> dict:
    """Period, scope and report from the request; bad arguments give the default view and their messages."""
    now = utcnow()
    period, errors = board.parse_period(request.args, now)
    scope, scope_errors = board.parse_scope(request.args)
    errors += scope_errors
    data = board.cached_report(current_user, period, scope, force=force, now=now)
    db.session.commit()  # the snapshot just computed, for the next viewer
    args = {"period": period.kind, "direction": scope.direction_id or "", "institution": scope.institution_id or ""}
    if period.kind == "custom":
        args.update({"from": period.start.strftime("%d.%m.%Y"), "to": period.end.strftime("%d.%m.%Y")})
    args = {k: v for k, v in args.items() if v != ""}
    queue_args = {k: v for k, v in (("institution", scope.institution_id), ("direction", scope.direction_id))
                  if v is not None}
    return {"period": period, "previous": period.previous(), "scope": scope, "errors": errors, "data": data,
            "args": args, "now": now, "queue_args": queue_args}


def _choices() -> dict:
    return {
        "directions": db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id)).all(),
        "institutions": db.session.scalars(select(Institution).where(Institution.is_active.is_(True))
                                           .order_by(Institution.short_name)).all(),
        "period_kinds": board.PERIOD_KINDS,
    }


@bp.get("")
def index():
    state = _state(force=request.args.get("fresh") == "1")
    kind = request.args.get("kind") if request.args.get("kind") in worklist.KINDS else None
    items = worklist.worklist(current_user, state["period"], state["scope"], kind=kind, limit=15, now=state["now"])
    counts = worklist.counts(current_user, state["period"], state["scope"], now=state["now"],
                             overdue=state["data"]["now"]["overdue"])
    status = 422 if state["errors"] else 200
    resp = render("board/index.html", "board/_content.html", status=status, items=items, counts=counts,
                  kind=kind, kinds=worklist.KINDS, method=_method(), **state, **_choices())
    # the address bar shows the view's canonical address (no hidden custom dates, no bad arguments)
    resp.headers["HX-Push-Url"] = url_for("board.index", **state["args"])
    return resp


@bp.get("/figures")
def figures():
    """The live part: figures and charts, refreshed every BOARD_POLL_SECONDS without a reload."""
    state = _state()
    return render_template("board/_figures.html", **state)


@bp.get("/problems")
def problem_list():
    state = _state()
    kind = request.args.get("kind") if request.args.get("kind") in worklist.KINDS else None
    limit = 200 if kind else 40
    items = worklist.worklist(current_user, state["period"], state["scope"], kind=kind, limit=limit,
                              now=state["now"])
    counts = worklist.counts(current_user, state["period"], state["scope"], now=state["now"],
                             overdue=state["data"]["now"]["overdue"])
    return render("board/problems.html", "board/_problems.html", items=items, counts=counts, kind=kind,
                  kinds=worklist.KINDS, **state)


@bp.get("/hotspots/<int:spot_id>")
def hotspot(spot_id: int):
    spot = db.session.get(HotSpot, spot_id)
    if spot is None:
        raise NotFound("Повторяющаяся проблема не найдена")
    tickets = [t for t in spot.tickets if access.can_view(current_user, t)]
    return render_template("board/hotspot.html", spot=spot, tickets=tickets,
                           orders=control.orders_for_hot_spot(current_user, spot), now=utcnow())


@bp.get("/hotspots/<int:spot_id>/export.xlsx")
def hotspot_export(spot_id: int):
    """A hot spot's tickets as XLSX (residents' contacts in the text masked unless the role may see them)."""
    spot = db.session.get(HotSpot, spot_id)
    if spot is None:
        raise NotFound("Повторяющаяся проблема не найдена")
    data, filename = hotspots.workbook(current_user, spot)
    return exports.xlsx_response(data, filename)


@bp.get("/export.xlsx")
def export():
    state = _state()
    kind = request.args.get("kind") if request.args.get("kind") in worklist.KINDS else None
    items = worklist.worklist(current_user, state["period"], state["scope"], kind=kind, limit=1000,
                              now=state["now"])
    return board_export.response(current_user, state, items, _choices())


def _method() -> dict:
    return {"min_volume": board.MIN_VOLUME, "smoothing": board.SMOOTHING, "target_days": board.TARGET_MEAN_DAYS,
            "target_good": int(board.TARGET_GOOD_SHARE * 100)}


@bp.app_context_processor
def board_helpers():
    def board_url(args: dict, **changes) -> str:
        merged = {**args, **changes}
        return url_for("board.index", **{k: v for k, v in merged.items() if v not in (None, "")})

    return {"board_url": board_url}


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


@bp.app_context_processor
def board_formatting():
    return {"fmt_value": fmt_value, "figure_change": change, "BOARD_FIGURES": FIGURES}


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


@bp.app_context_processor
def board_chart_helpers():
    return {"board_charts": board_charts}
