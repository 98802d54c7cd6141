"""The participants' rating for the staff (issue 14, items 3 and 5): /rating with period and direction filters,
a participant's drill-down, the XLSX export with the same filters."""
from __future__ import annotations

import re

from flask import Blueprint, abort, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.htmx import parse_id, render
from app.models import Institution, utcnow
from app.services import access, board
from app.services.errors import NotFound
from app.services.rating import export as rating_export
from app.services.rating import page

bp = Blueprint("rating", __package__, url_prefix="/rating")
KINDS = ("month", "quarter", "year", "custom")


@bp.before_request
@login_required
def require_rating_role():
    if not access.can_view_rating(current_user):
        abort(403)


def _state() -> dict:
    """Period and direction from the request; junk gives the default (this month, every direction)."""
    now = utcnow()
    period, errors = board.parse_period(request.args, now)
    if period.kind not in KINDS:  # today and week are the board's, too short to rate: this month
        period, errors = board.parse_period({}, now)
    choices = page.directions()
    wanted = parse_id(request.args.get("direction"))
    chosen = [d for d in choices if d.id == wanted] or choices
    args = {"period": period.kind}
    if period.kind == "custom":
        args.update({"from": period.start.strftime("%d.%m.%Y"), "to": period.end.strftime("%d.%m.%Y")})
    if wanted and len(chosen) == 1:
        args["direction"] = wanted
    return {"period": period, "previous": period.previous(), "errors": errors, "now": now, "args": args,
            "directions": choices, "direction_id": wanted if len(chosen) == 1 else None,
            "period_kinds": {k: v for k, v in board.PERIOD_KINDS.items() if k in KINDS},
            "chosen": chosen}


@bp.get("")
def index():
    state = _state()
    sections = page.sections(state["chosen"], state["period"], state["now"])
    resp = render("rating/index.html", "rating/_content.html", sections=sections, columns=page.COLUMNS,
                  flag_labels=page.FLAG_LABELS, value=page.value, **state)
    resp.headers["HX-Push-Url"] = url_for("rating.index", **state["args"])
    return resp


@bp.get("/export.xlsx")
def export():
    state = _state()
    sections = page.sections(state["chosen"], state["period"], state["now"])
    return rating_export.response(current_user, sections, state["period"])


@bp.get("/<slug>")
def participant(slug: str):
    valid = re.fullmatch(r"[a-z0-9-]{1,80}", slug)  # slugify's alphabet: junk never reaches the database
    inst = db.session.scalar(select(Institution).where(Institution.slug == slug)) if valid else None
    if inst is None:
        raise NotFound("Участник не найден — выберите его в таблице рейтинга")
    state = _state()
    rows = page.drill(inst, state["period"], state["now"])
    return render("rating/participant.html", "rating/participant.html", institution=inst, rows=rows, **state)
