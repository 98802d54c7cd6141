from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app.blueprints.tickets.forms import (
    AssignForm,
    CategoryForm,
    ExtendForm,
    InterimForm,
    MergeForm,
    NoteForm,
    PriorityForm,
    RegimeForm,
    ReplyForm,
    StatusForm,
)
from app.channels.base import ChannelError
from app.extensions import db
from app.htmx import form_errors, render, wants_fragment
from app.kept_fields import KeptForm
from app.models import Account, Category, Institution, Resident, Ticket, VerdictAnswer, utcnow
from app.services import access, control, files, refdata, repeats, route_suggestions, tickets, timeline, workflow
from app.services.errors import Conflict, DomainError, NotFound

bp = Blueprint("tickets", __package__, url_prefix="/tickets")


@bp.before_request
@login_required
def _login():
    return None


# what the ticket page shows of the ticket's own relations, in the ticket's query (not one query each)
PAGE_LOADS = (joinedload(Ticket.institution), joinedload(Ticket.category).joinedload(Category.sla_policy),
              joinedload(Ticket.resident), joinedload(Ticket.account))
# what the page itself shows of them (a GET: its own statement, with the columns shown — not the account's ~40 nor the
# rubric's SLA policy, which the actions' arithmetic loads through PAGE_LOADS; the institution's and rubric's names
# come as tickets.PageFacts); an attribute not loaded here would load on access, as any expired one does
DETAIL_LOADS = (joinedload(Ticket.resident).load_only(Resident.display_name, Resident.network, Resident.external_id),
                joinedload(Ticket.account).load_only(Account.title, Account.handle))
# the residents' answers (usually none): asked only when the ticket's statement says there are some, in one
# statement with their residents (a join in the ticket's statement cost the planner more than this one)
_ANSWERS = (select(VerdictAnswer).where(VerdictAnswer.ticket_id == bindparam("ticket_id"))
            .options(joinedload(VerdictAnswer.resident)).order_by(VerdictAnswer.id))


def _load(number: str):
    try:
        return tickets.get_by_number(current_user, number, *PAGE_LOADS)
    except DomainError:
        abort(404)


def _answers(ticket, facts) -> None:
    """ticket.answers as the page shows them, without a lazy load per answer's resident."""
    answers = list(db.session.scalars(_ANSWERS, {"ticket_id": ticket.id})) if facts is None or facts.answers \
        else []
    set_committed_value(ticket, "answers", answers)


class _FileLinks:
    """url_for('tickets.attachment', number=…, message_id=…, index=…) for the timeline's files: the URL is built
    once for the ticket, each file's link is its two integers after it (the rule's int converters: str(n))."""
    __slots__ = ("number", "prefix")

    def __init__(self, number: str):
        self.number, self.prefix = number, None

    def __call__(self, message_id: int, index: int) -> str:
        if self.prefix is None:
            self.prefix = url_for("tickets.attachment", number=self.number, message_id=0, index=0)[:-len("0/0")]
        return f"{self.prefix}{int(message_id)}/{int(index)}"


def _control_institutions():
    return refdata.memo(("control.institutions",), control.institution_choices)


def _context(ticket, facts=None, **forms):
    """The panel's context. `facts` (tickets.PageFacts, read with the ticket): the lists it says are empty are not
    asked for; None (after an action): every list is read."""
    _answers(ticket, facts)
    ctx = {
        "ticket": ticket,
        # the names shown of its institution and rubric (read with the ticket on a GET)
        "institution_name": facts.institution_name if facts is not None
        else (ticket.institution.name if ticket.institution else None),
        "category_name": facts.category_name if facts is not None
        else (ticket.category.name if ticket.category else None),
        "timeline": timeline.build(ticket, replies=facts is None or facts.replies,
                                   family=facts is None or facts.family),
        "targets": workflow.allowed_targets(current_user, ticket),
        "can_manage": access.can_manage(current_user),
        "can_work": access.can_work(current_user, ticket),
        "status_form": KeptForm(StatusForm, version=ticket.version),
        "assign_form": KeptForm(AssignForm, version=ticket.version, institution_id=ticket.institution_id),
        "category_form": KeptForm(CategoryForm, version=ticket.version, category_id=ticket.category_id),
        "priority_form": KeptForm(PriorityForm, version=ticket.version, priority=ticket.priority),
        "note_form": KeptForm(NoteForm),
        "reply_form": KeptForm(ReplyForm),
        "merge_form": KeptForm(MergeForm, version=ticket.version),
        "interim_form": KeptForm(InterimForm),
        "extend_form": KeptForm(ExtendForm, version=ticket.version),
        "regime_form": KeptForm(RegimeForm, version=ticket.version, regime=ticket.regime),
        "orders": control.orders_for_ticket(current_user, ticket) if facts is None or facts.orders else [],
        "can_issue": access.can_issue_orders(current_user),
        # the head's order form lists the active institutions: reference data, kept per its version (the page's
        # statement has read the version already), not read per page
        "control_institutions": _control_institutions,
        "file_link": _FileLinks(ticket.number),
        "repeats": repeats.of_ticket(current_user, ticket)
        if ticket.is_open and (facts is None or facts.repeats) else [],
        "offer": (route_suggestions.offers([ticket], missing_only=False).get(ticket.id)
                  if ticket.is_open and access.can_manage(current_user) else None),
        "repeat_form": KeptForm(FlaskForm),
        "error": None,
        "notice": None,
    }
    ctx.update(forms)
    return ctx


@bp.get("/<number>")
def detail(number: str):
    try:
        ticket, facts = tickets.get_for_page(current_user, number, *DETAIL_LOADS)
    except DomainError:
        abort(404)
    return render("tickets/detail.html", "tickets/_panel.html", **_context(ticket, facts))


def _act(number: str, form_name: str, form, apply, notice: str):
    """Validate `form`, run `apply(ticket, form)`, commit; answer with the panel (HTMX) or a redirect."""
    ticket = _load(number)
    error = None
    if form.validate():
        try:
            apply(ticket, form)
            db.session.commit()
        except (DomainError, StaleDataError) as exc:
            db.session.rollback()
            error = exc.message if isinstance(exc, DomainError) else Conflict().message
            ticket = _load(number)
    else:
        error = form_errors(form)
    if not wants_fragment():
        if error:
            return render_template("tickets/detail.html", **_context(ticket, error=error, **{form_name: form})), 422
        return redirect(url_for("tickets.detail", number=ticket.number))
    ctx = _context(ticket, error=error, notice=None if error else notice)
    if error:
        ctx[form_name] = form
    return render_template("tickets/_panel.html", **ctx), 422 if error else 200


@bp.post("/<number>/status")
def change_status(number: str):
    def apply(t, f):
        comment = (f.comment.data or "").strip() or None
        tickets.change_status(t, f.status.data, current_user, reason=f.reason.data or None, comment=comment,
                               expected_version=f.version.data)
    return _act(number, "status_form", StatusForm(), apply, _("Статус изменён"))


@bp.post("/<number>/interim")
def interim(number: str):
    return _act(number, "interim_form", InterimForm(),
                lambda t, f: tickets.interim_answer(t, current_user, f.text.data, f.promised.data),
                _("Промежуточный ответ поставлен в очередь на отправку жителю"))


@bp.post("/<number>/extend")
def extend(number: str):
    def apply(t, f):
        workflow.check_version(t, f.version.data)
        tickets.extend_deadline(t, f.reason.data, current_user, utcnow())
    return _act(number, "extend_form", ExtendForm(), apply, _("Срок продлён, житель уведомлён"))


@bp.post("/<number>/regime")
def change_regime(number: str):
    def apply(t, f):
        workflow.check_version(t, f.version.data)
        tickets.change_regime(t, f.regime.data, f.reason.data, current_user, utcnow())
    return _act(number, "regime_form", RegimeForm(), apply, _("Режим изменён, срок пересчитан"))


@bp.post("/<number>/assign")
def assign(number: str):
    def apply(t, f):
        inst = tickets.require(Institution, f.institution_id.data, _("Учреждение не найдено"))
        tickets.assign(t, inst, current_user, expected_version=f.version.data)
    return _act(number, "assign_form", AssignForm(), apply, _("Обращение передано исполнителю"))


@bp.post("/<number>/category")
def set_category(number: str):
    def apply(t, f):
        cat = tickets.require(Category, f.category_id.data, _("Рубрика не найдена"))
        tickets.set_category(t, cat, current_user, expected_version=f.version.data)
    return _act(number, "category_form", CategoryForm(), apply, _("Рубрика изменена"))


@bp.post("/<number>/priority")
def set_priority(number: str):
    def apply(t, f):
        tickets.set_priority(t, f.priority.data, current_user, expected_version=f.version.data)
    return _act(number, "priority_form", PriorityForm(), apply, _("Приоритет изменён"))


@bp.post("/<number>/note")
def add_note(number: str):
    return _act(number, "note_form", NoteForm(), lambda t, f: tickets.add_note(t, current_user, f.data["text"]),
                _("Заметка добавлена"))


@bp.post("/<number>/reply")
def reply(number: str):
    return _act(number, "reply_form", ReplyForm(),
                lambda t, f: tickets.public_reply(t, current_user, f.data["text"]),
                _("Ответ поставлен в очередь на отправку жителю"))


@bp.post("/<number>/replies/<int:reply_id>/resend")
def resend(number: str, reply_id: int):
    return _act(number, "resend_form", FlaskForm(), lambda t, f: tickets.resend_reply(t, current_user, reply_id),
                _("Ответ поставлен в очередь на повторную отправку"))


@bp.post("/<number>/merge")
def merge(number: str):
    def apply(t, f):
        into = tickets.get_by_number(current_user, f.merge_into.data)
        tickets.merge(t, into, current_user, expected_version=f.version.data)
    return _act(number, "merge_form", MergeForm(), apply, _("Обращение объединено"))


def _own_suggestion(number: str, suggestion_id: int) -> None:
    """A live suggestion of this ticket's, else 404 (as for any id that is not there)."""
    ticket = _load(number)
    if not any(s.id == suggestion_id for s, _other in repeats.of_ticket(current_user, ticket)):
        abort(404)


@bp.post("/<number>/repeats/<int:suggestion_id>/merge")
def repeat_merge(number: str, suggestion_id: int):
    """«Объединить» a likely repeat: the newer of the two is merged into the older."""
    _own_suggestion(number, suggestion_id)
    return _act(number, "repeat_form", FlaskForm(), lambda t, f: repeats.merge(current_user, suggestion_id),
                _("Обращение объединено"))


@bp.post("/<number>/repeats/<int:suggestion_id>/dismiss")
def repeat_dismiss(number: str, suggestion_id: int):
    _own_suggestion(number, suggestion_id)
    return _act(number, "repeat_form", FlaskForm(), lambda t, f: repeats.dismiss(current_user, suggestion_id),
                _("Отмечено: не повтор"))


@bp.get("/<number>/files/<int:message_id>/<int:index>")
def attachment(number: str, message_id: int, index: int):
    """A resident's file, for staff who may see the ticket: web-form photos from our storage, others by link."""
    ticket = _load(number)
    try:
        found = files.attachment(ticket, message_id, index, current_app.config)
    except NotFound:
        abort(404)
    except ChannelError as exc:
        return render_template("errors/error.html", status=502, title="Файл недоступен", message=str(exc)), 502
    if found.url:
        return redirect(found.url)
    return files.serve(found.content, found.item, found.fallback_name)


@bp.get("/")
def lookup():
    number = request.args.get("number", "").strip()
    if not number:
        return redirect(url_for("auth.index"))
    return redirect(url_for("tickets.detail", number=number.upper()))
