from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from app.blueprints.tickets.forms import StatusForm
from app.extensions import db
from app.htmx import form_errors, render, wants_fragment
from app.models import OPEN_STATUSES, Ticket, utcnow
from app.services import control, queue, tickets, workflow
from app.services.errors import Conflict, DomainError
from app.blueprints.queue.routes import export_tickets

bp = Blueprint("workspace", __package__, url_prefix="/my")


# The executor's inline actions (what the executor does), in the order the row offers them.
ROW_ACTIONS = {
    "in_progress": _l("Принять в работу"),
    "waiting_resident": _l("Запросить уточнение"),
    "resolved": _l("Решено"),
    "new": _l("Вернуть модератору"),
}
RESUME_LABEL = _l("Продолжить работу")  # in_progress from waiting_resident: the resident has answered
NEEDS_COMMENT = {
    "resolved": _l("Напишите ответ жителю: что сделано"),
    "new": _l("Напишите, почему обращение не ваше"),
}


def _executor():
    if current_user.role != "executor" or current_user.institution_id is None:
        abort(403)


def month_start(now: datetime) -> datetime:
    """The first moment of the current month in the city's time zone."""
    local = now.astimezone(ZoneInfo(current_app.config["CITY_TZ"]))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def summary(institution_id: int, now: datetime) -> dict:
    """This month's SLA compliance of the institution, in one aggregate query."""
    since = month_start(now)
    resolved = Ticket.resolved_at >= since
    row = db.session.execute(
        select(func.count().filter(resolved),
               func.count().filter(resolved, Ticket.resolved_at <= Ticket.resolution_due_at),
               func.count().filter(Ticket.is_overdue(now)))
        .where(Ticket.institution_id == institution_id,
               or_(resolved, Ticket.status.in_(OPEN_STATUSES)))).one()
    total, on_time, overdue = row
    return {"resolved": total, "on_time": on_time, "overdue": overdue,
            "percent": round(100 * on_time / total) if total else None, "since": since}


def row_actions(ticket: Ticket) -> list[str]:
    allowed = workflow.allowed_targets(current_user, ticket)
    return [s for s in ROW_ACTIONS if s in allowed]


@bp.get("")
@login_required
def index():
    """The executor's institution: its open tickets, the most urgent (nearest deadline) first."""
    _executor()
    f = queue.QueueFilters(statuses=list(OPEN_STATUSES), sort="due")
    page = queue.page(current_user, f, cursor=request.args.get("cursor") or None,
                      limit=current_app.config["QUEUE_PAGE_SIZE"])
    orders = [] if wants_fragment() else control.list_orders(current_user, state="open", limit=100).rows
    return render("workspace/index.html", "workspace/_list.html", page=page, orders=orders,
                  appending=bool(request.args.get("cursor")),
                  summary=summary(current_user.institution_id, utcnow()),
                  row_actions=row_actions, row_labels=ROW_ACTIONS, resume_label=RESUME_LABEL)


@bp.get("/export.xlsx")
@login_required
def export():
    """The institution's tickets as XLSX: the queue's filters (default: open ones, nearest deadline first);
    the visibility rule keeps it to the executor's institution whatever the filters say."""
    _executor()

    return export_tickets("Обращения учреждения", default_sort="due")


@bp.post("/<number>/status")
@login_required
def act(number: str):
    """An inline action on a row: change the status, answer with the row re-rendered."""
    _executor()
    try:
        ticket = tickets.get_by_number(current_user, number)
    except DomainError:
        abort(404)
    form = StatusForm()
    error = None
    to = form.status.data
    if not form.validate():
        error = form_errors(form)
    elif to not in ROW_ACTIONS:
        error = _("Это действие выполняется на странице обращения")
    elif to in NEEDS_COMMENT and not (form.comment.data or "").strip():
        error = str(NEEDS_COMMENT[to])
    else:
        try:
            tickets.change_status(ticket, to, current_user, comment=(form.comment.data or "").strip() or None,
                                   expected_version=form.version.data)
            db.session.commit()
        except (DomainError, StaleDataError) as exc:
            db.session.rollback()
            error = exc.message if isinstance(exc, DomainError) else Conflict().message
            ticket = db.session.get(Ticket, ticket.id)
    notice = None if error else _("Статус изменён: %(status)s", status=ticket.status_label)
    if not wants_fragment():  # without JavaScript: back to the list, with the outcome on top
        flash(error or notice, "error" if error else "ok")
        return redirect(url_for("workspace.index"))
    html = render_template("workspace/_row.html", t=ticket, error=error, notice=notice,
                           row_actions=row_actions, row_labels=ROW_ACTIONS, resume_label=RESUME_LABEL,
                           open_form=to if error else None)
    return html, 422 if error else 200
