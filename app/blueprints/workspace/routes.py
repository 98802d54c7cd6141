from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf.csrf import generate_csrf
from sqlalchemy.orm.exc import StaleDataError

from app.blueprints.queue.export import export_tickets
from app.blueprints.tickets.forms import StatusForm
from app.extensions import db
from app.htmx import form_errors, render, wants_fragment
from app.models import OPEN_STATUSES, Ticket, utcnow
from app.services import control, queue, tickets, workflow, workspace
from app.services.errors import Conflict, DomainError
from app.urls import path_pattern

bp = Blueprint("workspace", __package__, url_prefix="/my")


# The executor's inline actions (what the executor does), in the order the row offers them.
ROW_ACTIONS = {
    "in_progress": _l("Принять в работу"),
    "waiting_resident": _l("Запросить уточнение"),
    "resolved": _l("Решено"),
    "new": _l("Вернуть модератору"),
}
RESUME_LABEL = _l("Продолжить работу")  # in_progress from waiting_resident: the resident has answered
NEEDS_COMMENT = {  # resolving needs the answer to the resident: that rule is tickets.change_status's
    "new": _l("Напишите, почему обращение не ваше"),
}


def _row_texts() -> dict:
    """What every row of the list says, translated once a request (the list has up to a page of rows)."""
    return {"labels": {k: str(v) for k, v in ROW_ACTIONS.items()}, "resume": str(RESUME_LABEL),
            "comment": _("Комментарий"), "resolved_hint": _("Ответ жителю: что сделано"),
            "not_ours_hint": _("Почему обращение не ваше")}


def _row_context() -> dict:
    texts = _row_texts()
    # each row links its ticket and posts its actions: two URLs a row, built once a request; the forms' CSRF token
    # is the request's one (Flask-WTF gives the same token to every call of a request), asked once
    texts.update(detail_url=path_pattern("tickets.detail", "number"), act_url=path_pattern("workspace.act", "number"),
                 csrf=generate_csrf())
    return {"texts": texts, "row_labels": texts["labels"], "resume_label": texts["resume"],
            "row_actions": _row_actions_memo()}


def _executor():
    if current_user.role != "executor" or current_user.institution_id is None:
        abort(403)


def row_actions(ticket: Ticket) -> list[str]:
    allowed = workflow.allowed_targets(current_user, ticket)
    return [s for s in ROW_ACTIONS if s in allowed]


def _row_actions_memo():
    """row_actions for the rows of one request: the actions depend on the ticket's status and whether it is the
    user's institution's (workflow.allowed_targets), so each pair is worked out once."""
    memo: dict = {}

    def actions(ticket: Ticket) -> list[str]:
        key = (ticket.status, ticket.institution_id)
        got = memo.get(key)
        if got is None:
            got = memo[key] = row_actions(ticket)
        return got
    return actions


@bp.get("")
@login_required
def index():
    """The executor's institution: its open tickets, the most urgent (nearest deadline) first."""
    _executor()
    f = queue.QueueFilters(statuses=list(OPEN_STATUSES), sort="due")
    page = queue.page(current_user, f, cursor=request.args.get("cursor") or None,
                      limit=current_app.config["QUEUE_PAGE_SIZE"])
    # the fragment (the next page of the list) shows neither the orders nor the summary
    fragment = wants_fragment()
    orders = [] if fragment else control.list_orders(current_user, state="open", limit=100).rows
    return render("workspace/index.html", "workspace/_list.html", page=page, orders=orders,
                  appending=bool(request.args.get("cursor")),
                  summary=None if fragment else workspace.summary(current_user.institution_id, utcnow()),
                  **_row_context())


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
                           open_form=to if error else None, **_row_context())
    return html, 422 if error else 200


@bp.cli.command("rebuild-late-counts")
def rebuild_late_counts() -> None:
    """Build the overdue counts of /my (workspace_late_counts) from every ticket: after a load with the triggers
    off (bench/load_tickets.py); the trigger of migration 0033 keeps them afterwards."""
    import click
    if not workspace.kept():
        raise click.ClickException("Счётчики ведутся только на PostgreSQL.")
    with db.engine.begin() as conn:
        workspace.rebuild(conn)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE workspace_late_counts")  # the old rows gone: index-only reads
    click.echo("Счётчики просроченных обращений построены.")
