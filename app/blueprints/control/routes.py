"""Control orders (поручения) of the head: the list, one order with its actions, issuing from a ticket
or a hot spot. Views parse, make one service call, commit and render; the rules are in services/control."""
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app.extensions import db
from app.htmx import parse_id, render, wants_fragment
from app.models import HotSpot, Institution, Ticket, utcnow
from app.services import access, control, exports
from app.services.errors import DomainError, ValidationFailed

bp = Blueprint("control", __package__, url_prefix="/control")


LATE_FILTERS = {"": None, "1": True, "0": False}


@bp.before_request
@login_required
def _login():
    if not access.can_see_orders(current_user):
        abort(403)
    return None


# --- the list -------------------------------------------------------------------------------------------
def _filters(args) -> tuple[dict, str | None]:
    """The list's filters from the query string; a bad value → the default view and a message."""
    f = {"state": "open", "institution": None, "late": None, "cursor": None}
    errors = []
    state = (args.get("state") or "open").strip()
    if state in control.STATE_FILTERS:
        f["state"] = state
    else:
        errors.append(_("неизвестное состояние «%(v)s»", v=state[:40]))
    raw = (args.get("institution") or "").strip()
    if raw:
        iid = parse_id(raw)
        if iid is None or db.session.get(Institution, iid) is None:
            errors.append(_("учреждение «%(v)s» не найдено", v=raw[:40]))
        elif current_user.role != "executor":
            f["institution"] = iid
    late = (args.get("late") or "").strip()
    if late in LATE_FILTERS:
        f["late"] = LATE_FILTERS[late]
    else:
        errors.append(_("фильтр просрочки «%(v)s» не распознан", v=late[:40]))
    f["cursor"] = args.get("cursor") or None
    if errors:
        return {"state": "open", "institution": None, "late": None, "cursor": None}, \
            _("Фильтр не применён: %(what)s. Показаны открытые поручения.", what="; ".join(errors))
    return f, None


@bp.get("")
def index():
    f, error = _filters(request.args)
    now = utcnow()
    try:
        page = control.list_orders(current_user, state=f["state"], institution_id=f["institution"], late=f["late"],
                                   cursor=f["cursor"], limit=current_app.config["QUEUE_PAGE_SIZE"], now=now)
    except ValidationFailed as exc:  # a stale or forged cursor: the first page
        error, f["cursor"] = exc.message, None
        page = control.list_orders(current_user, state=f["state"], institution_id=f["institution"],
                                   late=f["late"], limit=current_app.config["QUEUE_PAGE_SIZE"], now=now)
    institutions = [] if current_user.role == "executor" else db.session.execute(
        select(Institution.id, Institution.short_name).order_by(Institution.short_name)).all()
    params = {k: v for k, v in {"state": f["state"] if f["state"] != "open" else None,
                                "institution": f["institution"],
                                "late": {True: "1", False: "0"}.get(f["late"])}.items() if v is not None}
    return render("control/index.html", "control/_list.html", page=page, f=f, error=error, params=params,
                  counts=control.counts_by_state(current_user, now), institutions=institutions,
                  appending=bool(f["cursor"]), now=now)


@bp.get("/export.xlsx")
def export():
    """The list as XLSX with the page's filters (every page, through the keyset cursor)."""
    f, error = _filters(request.args)
    data, filename = control.orders_workbook(current_user, f, error, utcnow(), current_app.config["EXPORT_MAX_ROWS"])
    return exports.xlsx_response(data, filename)


# --- one order ------------------------------------------------------------------------------------------
def _load(order_id: int):
    try:
        return control.get(current_user, order_id)
    except DomainError:
        abort(404)


def _order_context(order, **extra) -> dict:
    ctx = {"order": order, "hot_spot": control.hot_spot_of(order),
           "actions": control.allowed_actions(current_user, order), "now": utcnow(),
           "error": None, "notice": None, "failed_action": None, "text": ""}
    ctx.update(extra)
    return ctx


@bp.get("/<int:order_id>")
def detail(order_id: int):
    order = _load(order_id)
    return render("control/detail.html", "control/_order.html", **_order_context(order))


NOTICES = {
    "accept": "Поручение принято к исполнению",
    "report": "Доклад отправлен главе",
    "approve": "Доклад принят, поручение исполнено",
    "return": "Поручение возвращено на доработку",
    "cancel": "Поручение снято с контроля",
}


@bp.post("/<int:order_id>/act")
def act(order_id: int):
    """One step of the order (accept, report, approve, return, cancel), answered with the order's block."""
    return _act(order_id, row=False)


@bp.post("/<int:order_id>/act/row")
def act_row(order_id: int):
    """The same step from the executor's workspace, answered with the workspace row."""
    return _act(order_id, row=True)


def _act(order_id: int, row: bool):
    order = _load(order_id)
    action = request.form.get("action", "")
    text = request.form.get("text", "")
    error, status = None, 200
    try:
        control.act(order, action, current_user, text=text, expected_stamp=request.form.get("stamp"))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        error, status = exc.message, (exc.status_code if exc.status_code in (403, 409) else 422)
        order = _load(order_id)
    notice = None if error else _(NOTICES.get(action, "Готово"))
    if not wants_fragment():
        if error:
            return render_template("control/detail.html", **_order_context(
                order, error=error, failed_action=action, text=text)), status
        return redirect(url_for("control.detail", order_id=order.id))
    if row:
        return render_template("control/_workspace_row.html", o=order, now=utcnow(), error=error, notice=notice,
                               failed_action=action if error else None, text=text if error else ""), status
    return render_template("control/_order.html", **_order_context(
        order, error=error, notice=notice, failed_action=action if error else None,
        text=text if error else "")), status


# --- issuing --------------------------------------------------------------------------------------------
@bp.post("/new")
def new():
    """Issue an order from a ticket page or a hot spot page (the form: control/_issue_form.html)."""
    if not access.can_issue_orders(current_user):
        abort(403)
    form = request.form
    ticket = hot_spot = None
    errors: dict[str, str] = {}
    if form.get("ticket_id"):
        tid = parse_id(form["ticket_id"])
        ticket = db.session.get(Ticket, tid) if tid is not None else None
        if ticket is None or not access.can_view(current_user, ticket):
            abort(404)
    if form.get("hot_spot_id"):
        hid = parse_id(form["hot_spot_id"])
        hot_spot = db.session.get(HotSpot, hid) if hid is not None else None
        if hot_spot is None:
            abort(404)
    raw_inst = (form.get("institution_id") or "").strip()
    institution_id = parse_id(raw_inst) if raw_inst else None
    order = None
    try:
        if raw_inst and institution_id is None:
            raise ValidationFailed(_("Учреждение не найдено или не работает"), field="institution_id")
        order = control.issue(current_user, instruction=form.get("instruction"), institution_id=institution_id,
                              due=form.get("due") or None, ticket=ticket, hot_spot=hot_spot,
                              topic=form.get("topic"))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        errors = getattr(exc, "errors", None) or {exc.field or "form": exc.message}
    if errors:
        ticket = db.session.get(Ticket, ticket.id) if ticket is not None else None
        hot_spot = db.session.get(HotSpot, hot_spot.id) if hot_spot is not None else None
        ctx = {"ticket": ticket, "hot_spot": hot_spot, "errors": errors, "values": form}
        if not wants_fragment():
            return render_template("control/issue_page.html", **ctx), 422
        return render_template("control/_issue_form.html", **ctx), 422
    if not wants_fragment():
        return redirect(url_for("control.detail", order_id=order.id))
    ticket_orders = control.orders_for_ticket(current_user, ticket) if ticket is not None else []
    return render_template("control/_issued.html", order=order, ticket=ticket, hot_spot=hot_spot,
                           ticket_orders=ticket_orders, now=utcnow())
