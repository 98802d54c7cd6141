"""The participants' rating for the staff (issue 14, items 3 and 5): /rating with period and direction filters,
a participant's drill-down, the XLSX export with the same filters."""
from __future__ import annotations

import hashlib
import re
from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app import fragments
from app.extensions import db
from app.htmx import parse_id, render
from app.models import NETWORK_LABELS, Institution, utcnow
from app.services import access, board
from app.services.errors import NotFound
from app.services.rating import export as rating_export
from app.services.rating import frozen, page, standing
from app.services.rating import public as rating_public

bp = Blueprint("rating", __package__, url_prefix="/rating")
KINDS = ("month", "quarter", "year", "custom")
STANDARD = ("month", "quarter", "year")


def _closed_start(raw) -> date | None:
    """`start=YYYY-MM-DD` of a closed standard period; junk gives None."""
    try:
        return date.fromisoformat((raw or "").strip()[:10]) if raw else None
    except ValueError:
        return None


def _why(e: Exception) -> str:
    """A refusal's reason in the staff's language (RatingError's template is translated; PermissionError's text
    is only reached by a direct service call — the routes answer 403 first)."""
    return e.message if isinstance(e, frozen.RatingError) else str(e)


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
    start = _closed_start(request.args.get("start"))
    if period.kind in STANDARD and start is not None and start < period.start and start.year >= 2000:
        period = frozen.full_period(period.kind, start)  # a whole closed month / quarter / year
    choices = page.directions()
    wanted = parse_id(request.args.get("direction"))
    chosen = [d for d in choices if d.id == wanted] or choices
    args = {"period": period.kind}
    if period.kind == "custom":
        args.update({"from": period.start.strftime("%d.%m.%Y"), "to": period.end.strftime("%d.%m.%Y")})
    closed = period.kind in STANDARD and period.end < board.today(now)
    if closed:
        args["start"] = period.start.isoformat()
    if wanted and len(chosen) == 1:
        args["direction"] = wanted
    return {"period": period, "previous": period.previous(), "errors": errors, "now": now, "args": args,
            "directions": choices, "direction_id": wanted if len(chosen) == 1 else None,
            "period_kinds": {k: v for k, v in board.PERIOD_KINDS.items() if k in KINDS},
            "chosen": chosen, "closed": closed,
            "last_closed": frozen.last_closed(period.kind, now) if period.kind in STANDARD else None}


TABLE = "rating/_table.html"


def _tables(sections: list[dict], state: dict, fresh: bool) -> None:
    """Each direction's standings table, rendered once per kept standing (its key and the moment it was computed:
    a new computation is a new version) and shared by every viewer and process (app/fragments.py); the key also
    holds the participants' names and addresses shown, the view's arguments, the language and the role. A closed
    period's table carries the viewer's «к поощрению» forms and the marks of the moment: rendered per request
    (`s.table` stays None), like a computation asked for now (`fresh`)."""
    for s in sections:
        s["table"] = None
    if state["closed"] or fresh:
        return
    wanted = []
    for s in sections:
        if s["frozen"]:
            continue
        names = "\x1f".join(f"{r['institution_id']}:{s['names'][r['institution_id']].short_name}:"
                             f"{s['names'][r['institution_id']].slug}" for r in s["rows"])
        data_key = standing.key(state["period"], s["direction"].id)
        vary = (current_user.role, sorted(state["args"].items()), hashlib.sha256(names.encode()).hexdigest())
        wanted.append((s, data_key, fragments.key("rating-table", data_key, (TABLE,), vary, code=(page.__file__,))))
    kept = fragments.prefetch([row_key for *_, row_key in wanted])
    for s, data_key, row_key in wanted:
        context = {"s": s, "columns": page.COLUMNS, "flag_labels": page.FLAG_LABELS, "value": page.value,
                   "args": state["args"], "closed": False, "marked": {}, "can_mark": False}
        s["table"] = fragments.cached("rating-table", data_key, s["computed_at"],
                                      lambda context=context: render_template(TABLE, **context), row_key=row_key,
                                      kept=kept)


@bp.get("")
def index():
    state = _state()
    fresh = request.args.get("fresh") == "1"
    sections = page.sections(state["chosen"], state["period"], state["now"], force=fresh)
    _tables(sections, state, fresh)
    marked = {m.institution_id: m for m in frozen.marks(state["period"])} if state["closed"] else {}
    resp = render("rating/index.html", "rating/_content.html", sections=sections, columns=page.COLUMNS,
                  flag_labels=page.FLAG_LABELS, value=page.value, marked=marked, network_labels=NETWORK_LABELS,
                  can_mark=access.can_mark_encouragement(current_user),
                  can_clear=access.can_clear_jumps(current_user), **state)
    resp.headers["HX-Push-Url"] = url_for("rating.index", **state["args"])
    return resp


@bp.get("/export.xlsx")
def export():
    state = _state()
    sections = page.sections(state["chosen"], state["period"], state["now"])
    return rating_export.response(current_user, sections, state["period"])


@bp.get("/marked.xlsx")
def marked_export():
    state = _state()
    if not state["closed"]:
        flash(_("Отмеченных «к поощрению» выгружают за закончившийся месяц, квартал или год — выберите его."),
              "error")
        return redirect(url_for("rating.index", **state["args"]))
    data = frozen.marked_export(state["period"])
    name = f"k-pooshchreniyu-{state['period'].kind}-{state['period'].start:%Y-%m-%d}.xlsx"
    return data, 200, {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       "Content-Disposition": f'attachment; filename="{name}"'}


@bp.post("/mark")
def mark():
    if not access.can_mark_encouragement(current_user):
        abort(403)
    state = _state()
    inst_id = parse_id(request.form.get("institution"))
    undo = request.form.get("action") == "unmark"
    try:
        if not state["closed"]:
            raise frozen.RatingError("Отмечать «к поощрению» можно только за закончившийся месяц, квартал или год "
                                     "— выберите его в поле «Период».")
        if undo:
            frozen.unmark(current_user, inst_id, state["period"])
        else:
            frozen.mark(current_user, inst_id, state["period"], request.form.get("note", ""), now=state["now"])
        db.session.commit()
        flash(_("Отметка снята") if undo else _("Участник отмечен «к поощрению»"), "ok")
    except (frozen.RatingError, PermissionError) as e:
        db.session.rollback()
        flash(_("Не получилось: %(why)s", why=_why(e)), "error")
    return redirect(url_for("rating.index", **state["args"]))


@bp.post("/clear-jump")
def clear_jump():
    """A person clears a «проверить накрутку» rise (account, day): the growth counts again."""
    if not access.can_clear_jumps(current_user):
        abort(403)
    state = _state()
    account_id = parse_id(request.form.get("account"))
    day = _closed_start(request.form.get("day"))
    try:
        if account_id is None or day is None:
            raise frozen.RatingError("Не указан аккаунт или день роста — обновите страницу и попробуйте ещё раз.")
        frozen.clear_jump(current_user, account_id, day, request.form.get("note", ""), now=state["now"])
        db.session.commit()
        flash(_("Отметка «проверить накрутку» снята: прирост снова учитывается в месте"), "ok")
    except (frozen.RatingError, PermissionError) as e:
        db.session.rollback()
        flash(_("Не получилось: %(why)s", why=_why(e)), "error")
    return redirect(url_for("rating.index", **state["args"]))


@bp.get("/<slug>")
def participant(slug: str):
    # the slugs' alphabet (slugify's and the demo's «ugkh_blg»): junk never reaches the database
    valid = re.fullmatch(r"[A-Za-z0-9_-]{1,80}", slug)
    inst = db.session.scalar(select(Institution).where(Institution.slug == slug)) if valid else None
    if inst is None:
        raise NotFound("Участник не найден — выберите его в таблице рейтинга")
    state = _state()
    rows = page.drill(inst, state["period"], state["now"])
    return render("rating/participant.html", "rating/participant.html", institution=inst, rows=rows, **state)


@bp.post("/public-top")
def public_top():
    """The public «Лучшие участники» block on /participants: on or off, and its period (services/rating/public)."""
    if not access.can_publish_top(current_user):
        abort(403)
    enabled = request.form.get("enabled") in ("1", "on", "true", "yes")
    kind = (request.form.get("kind") or "").strip()[:20]
    try:
        rating_public.set_public_top(current_user, enabled, kind)
        db.session.commit()
        flash(_("Блок «Лучшие участники» на странице участников включён") if enabled
              else _("Блок «Лучшие участники» на странице участников выключен"), "ok")
    except (frozen.RatingError, PermissionError) as e:
        db.session.rollback()
        flash(_("Не получилось: %(why)s", why=_why(e)), "error")
    return redirect(url_for("rating.index"))


@bp.context_processor
def public_top_context():
    """For rating/_public_toggle.html: `public_top_form()` → the setting and whether this user may change it (read
    only when the partial is drawn)."""
    def public_top_form() -> dict:
        return {"setting": rating_public.public_top(), "can_change": access.can_publish_top(current_user),
                "kinds": {"month": _("месяц"), "quarter": _("квартал"), "year": _("год")}}
    return {"public_top_form": public_top_form}
