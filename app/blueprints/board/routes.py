"""The head's control board: /board (figures, problem issues, rankings, charts), hot spots, the XLSX export."""
from __future__ import annotations

import json

from flask import Blueprint, abort, render_template, request, url_for
from flask_login import current_user, login_required

from app.blueprints.board import present
from app.extensions import db
from app.htmx import etag_of, not_modified, poll_response, render
from app.models import HotSpot, utcnow
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


def _state(force: bool = False, parts: bool = False) -> dict:
    """Period, scope and report from the request; bad arguments give the default view and their messages.
    `parts`: the page's kept parts are read with the snapshot's summary, in one statement (`kept`); when they
    are of the snapshot's version, `data` is that summary (present.SUMMARY), not the whole report."""
    now = utcnow()
    period, errors = board.parse_period(request.args, now)
    scope, scope_errors = board.parse_scope(request.args)
    errors += scope_errors
    kept = present.prefetch(current_user, period, scope) if parts and not force else None
    # the parts kept at the snapshot's version: the page reads only the snapshot's summary, else the whole report
    data = (present.kept_summary(current_user, period, scope, kept, now) if kept else None) or \
        board.cached_report(current_user, period, scope, force=force, now=now)
    args = {"period": period.kind, "direction": scope.direction_id or "", "institution": scope.institution_id or ""}
    if period.kind == "custom":
        args.update({"from": period.start.strftime("%d.%m.%Y"), "to": period.end.strftime("%d.%m.%Y")})
    args = {k: v for k, v in args.items() if v != ""}
    queue_args = {k: v for k, v in (("institution", scope.institution_id), ("direction", scope.direction_id))
                  if v is not None}
    return {"period": period, "previous": period.previous(), "scope": scope, "errors": errors, "data": data,
            "args": args, "now": now, "queue_args": queue_args, "kept": kept}


def _choices() -> dict:
    return present.choices()


@bp.get("")
def index():
    fresh = request.args.get("fresh") == "1"
    state = _state(force=fresh, parts=True)
    kind = request.args.get("kind") if request.args.get("kind") in worklist.KINDS else None
    items = worklist.worklist(current_user, state["period"], state["scope"], kind=kind, limit=15, now=state["now"])
    counts = worklist.counts(current_user, state["period"], state["scope"], now=state["now"],
                             overdue=state["data"]["now"]["overdue"])
    status = 422 if state["errors"] else 200
    method = _method()
    parts = present.fragments_of(current_user, state, method, fresh=fresh, kept=state.pop("kept"))
    resp = render("board/index.html", "board/_content.html", status=status, items=items, counts=counts,
                  kind=kind, kinds=worklist.KINDS, method=method, parts=parts, **state, **_choices())
    # the address bar shows the view's canonical address (no hidden custom dates, no bad arguments)
    resp.headers["HX-Push-Url"] = url_for("board.index", **state["args"])
    return resp


@bp.get("/figures")
def figures():
    """The live part: figures and charts, refreshed every BOARD_POLL_SECONDS without a reload. Aggregates only (no
    personal data): an ETag from the view and the report's moment (a report is the data of one moment for one
    view and user; a snapshot is replaced whole, with its new moment), so a poll between two snapshots is a 304
    without rendering."""
    state = _state()
    data = state["data"]
    tag = etag_of("board.figures", sorted(state["args"].items()), state["errors"],
                  [(p.start.isoformat(), p.end.isoformat()) for p in (state["period"], state["previous"])],
                  data.get("computed_at") or json.dumps(data, sort_keys=True, default=str))
    return not_modified(tag) or poll_response(render_template("board/_figures.html", **state), tag, cacheable=True)


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
