from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import get_locale
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy import select

from app.blueprints.queue.export import export_tickets
from app.blueprints.queue.forms import BulkForm, QueueFilterForm
from app.extensions import db
from app.htmx import etag_of, form_errors, not_modified, parse_id, poll_response, render, wants_fragment
from app.models import Category, Institution, Message, Ticket
from app.services import access, intake, queue, refdata, repeats, route_suggestions, tickets
from app.services.errors import DomainError, NotFound, ValidationFailed
from app.services.intake import routing

bp = Blueprint("queue", __package__, url_prefix="/queue")


@bp.before_request
@login_required
def require_queue_role():
    if not access.can_see_queue(current_user):
        abort(403)


def _filters():
    form = QueueFilterForm(request.args)
    form.validate()
    return form, form.to_filters()


# The filter form's fields as HTML, by (reference data version, language, each field's value and errors): what
# queue/_filter_fields.html writes depends on nothing else (the option lists are the reference data's, the labels
# and messages the language's). A new version is a new key, so no process ever shows an old list; at most
# FILTER_FIELDS_KEPT entries, then it starts again.
FILTER_FIELDS_KEPT = 128  # ≈ 20 KB each (the option lists)
_filter_fields_memo: dict[tuple, Markup] = {}


def _filter_fields(form) -> Markup:
    fields = (form.status, form.direction, form.institution, form.category, form.network, form.sort, form.q,
              form.sla)
    key = (refdata.version(), str(get_locale() or ""),
           tuple((f.name, repr(f.data), tuple(str(e) for e in f.errors)) for f in fields))
    html = _filter_fields_memo.get(key)
    if html is None:
        html = Markup(render_template("queue/_filter_fields.html", form=form))
        if key[0] >= 0 and not refdata.written():  # as refdata.memo: never what a writing transaction read
            if len(_filter_fields_memo) >= FILTER_FIELDS_KEPT:
                _filter_fields_memo.clear()
            _filter_fields_memo[key] = html
    return html


def _query_args(form) -> dict:
    """The current filters as URL arguments (for links that keep them)."""
    return {k: v for k, v in request.args.items(multi=False) if k != "cursor" and k != "after" and v}


@bp.get("")
def index():
    form, f = _filters()
    page = queue.page(current_user, f, cursor=form.cursor.data or None,
                      limit=current_app.config["QUEUE_PAGE_SIZE"])
    newest = max(t.id for t in page.rows) if page.rows else _newest_id()
    # the bulk form and the filter fields are the whole page's (index.html), not the list fragment's
    whole = not wants_fragment()
    return render("queue/index.html", "queue/_list.html", form=form, filters=f, page=page,
                  args=_query_args(form), newest_id=newest, bulk=BulkForm() if whole else None,
                  filter_fields=_filter_fields(form) if whole else None,
                  flags=repeats.flagged([t.id for t in page.rows]),
                  offers=route_suggestions.offers(page.rows) if access.can_manage(current_user) else {},
                  appending=bool(form.cursor.data))


@bp.get("/export.xlsx")
def export():
    """The queue with exactly the page's filters and order, every page (keyset batches), as XLSX."""
    return export_tickets("Очередь обращений")


def _newest_id() -> int:
    return db.session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1)) or 0


@bp.get("/arrivals")
def arrivals():
    """The live-arrivals poll. While nothing new is visible the answer is the same poller (no tickets, no personal
    data): it carries an ETag and is kept by the browser, so the next poll is a 304 — and when no ticket at all
    has arrived since `after` (one index lookup) the 304 costs no filter query and no rendering."""
    after = parse_id(request.args.get("after")) or 0
    args = _query_args(None)
    empty_tag = etag_of("queue.arrivals", "empty", after, sorted(args.items()))
    rows = []
    if _newest_id() > after:  # else nothing can have arrived, whatever the filters
        form, f = _filters()
        if f.sort == "new":
            rows = queue.arrivals(current_user, f, after)
    if not rows:
        return not_modified(empty_tag) or poll_response(
            render_template("queue/_arrivals.html", rows=[], newest_id=after, args=args, flags={}, offers={}),
            empty_tag, cacheable=True)
    newest = max([after] + [t.id for t in rows])
    return poll_response(render_template(
        "queue/_arrivals.html", rows=rows, newest_id=newest, args=args, flags=repeats.flagged([t.id for t in rows]),
        offers=route_suggestions.offers(rows) if access.can_manage(current_user) else {}), empty_tag, cacheable=False)


@bp.post("/<int:ticket_id>/route")
def accept_route(ticket_id: int):
    """One click on the learned router's suggestion in a queue row: the rubric (`category`) or the institution
    (`institution`) it offered; the row comes back updated (or with the reason it could not be done)."""
    if not access.can_manage(current_user):
        abort(403)
    ticket = db.session.get(Ticket, ticket_id) if parse_id(ticket_id) is not None else None
    if ticket is None or not access.can_view(current_user, ticket):
        abort(404)
    form = FlaskForm()
    error = None
    try:
        if not form.validate():
            raise ValidationFailed(form_errors(form) or "Форма устарела — обновите страницу")
        category_id, institution_id = parse_id(request.form.get("category")), parse_id(request.form.get("institution"))
        if category_id is None and institution_id is None:
            raise ValidationFailed("Не выбрано, что принять: рубрика или исполнитель")
        # the version the row was drawn at: a chip clicked after someone else routed the ticket is refused
        version = parse_id(request.form.get("version"))
        if category_id is not None:
            tickets.set_category(ticket, tickets.require(Category, category_id, "Рубрика не найдена"), current_user,
                                 expected_version=version)
            version = None
        if institution_id is not None:
            tickets.assign(ticket, tickets.require(Institution, institution_id, "Учреждение не найдено"),
                           current_user, expected_version=version)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        error = exc.message
        ticket = db.session.get(Ticket, ticket_id)
    return render_template("queue/_row.html", t=ticket, flags=repeats.flagged([ticket.id]),
                           offers=route_suggestions.offers([ticket]), row_error=error), 422 if error else 200


@bp.post("/bulk")
def bulk():
    form = BulkForm()
    ids = [i for i in map(parse_id, request.form.getlist("ids")) if i is not None]
    error = None
    result = None
    if form.validate():
        try:
            institution = (tickets.require(Institution, form.institution_id.data, "Учреждение не найдено")
                           if form.institution_id.data else None)
            category = (tickets.require(Category, form.category_id.data, "Рубрика не найдена")
                        if form.category_id.data else None)
            merge_into = None
            if form.action.data == "merge" and form.merge_into.data:
                try:
                    merge_into = tickets.get_by_number(current_user, form.merge_into.data)
                except DomainError as exc:
                    raise NotFound("Обращение № %(number)s не найдено", number=form.merge_into.data) from exc
            result = tickets.bulk(current_user, ids, form.action.data, institution=institution,
                                  category=category, reason=form.reason.data or None, merge_into=merge_into)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    else:
        error = form_errors(form)
    status = 200 if error is None else 422
    return render_template("queue/_bulk_result.html", result=result, error=error), status


@bp.get("/noise")
def noise():
    """The «не обращение» pile: what triage set aside, for a moderator to check."""
    if not access.can_manage(current_user):
        abort(403)
    messages = intake.noise_pile(before_id=parse_id(request.args.get("before")))
    return render_template("queue/noise.html", messages=messages, labels=routing.NOISE_LABELS)


@bp.post("/noise/<int:message_id>/promote")
def promote(message_id: int):
    message = tickets.require(Message, message_id, "Сообщение не найдено")
    try:
        ticket = intake.promote(message, current_user)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return render_template("errors/_message.html", title="Действие не выполнено", message=exc.message), 422
    return render_template("queue/_promoted.html", message=message, ticket=ticket)


@bp.get("/repeats")
def repeats_page():
    """«Повторы»: likely repeats grouped, for a moderator to merge each group into its oldest ticket."""
    if not access.can_manage(current_user):
        abort(403)
    return render_template("queue/repeats.html", groups=repeats.groups(current_user), form=FlaskForm(formdata=None))


@bp.post("/repeats/merge")
def repeats_merge():
    if not access.can_manage(current_user):
        abort(403)
    form = FlaskForm()
    ids = [i for i in map(parse_id, request.form.getlist("ids")) if i is not None]
    error = main = None
    merged = []
    if form.validate():
        try:
            main, merged = repeats.merge_group(current_user, ids)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    else:
        error = form_errors(form) or "CSRF"
    return (render_template("queue/_repeats_result.html", main=main, merged=merged, error=error),
            200 if error is None else 422)
