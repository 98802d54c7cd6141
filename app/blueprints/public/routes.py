"""Pages for residents, without an account: the appeal form, its receipt, the public status of a ticket.

The form is a channel like any other: a submission becomes an IncomingMessage of network «web» and goes
through intake.accept(); the triage makes the ticket (in-process, or in the worker a moment later).
Nothing is stored when the form has an error. Per-address limits are counted from the stored messages.
"""
from __future__ import annotations

from urllib.parse import unquote

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms.validators import ValidationError

from app.blueprints.public.forms import (
    MAX_TOTAL_BYTES,
    AppealForm,
    StatusLookupForm,
    frame_token_ok,
    sign_for_frame,
)
from app.extensions import csrf, db
from app.htmx import etag_of, not_modified, poll_response
from app.models import Message, Reply, Ticket, utcnow
from app.security import embed_requested
from app.services import appeals, verdict

bp = Blueprint("public", __package__)


@bp.url_defaults
def _stay_embedded(endpoint: str, values: dict) -> None:
    """Inside the city site's frame (`?embed=1`) every link, form and redirect of these pages stays embedded: the
    receipt after sending the form has no app header either."""
    if "embed" not in values and embed_requested():
        values["embed"] = "1"


MAX_BODY = MAX_TOTAL_BYTES + 1024 * 1024  # the photos and the text fields
PUBLIC_REPLY_KINDS = ("staff", "resolved")
# Replies are shown in full only when the status page is where they were delivered (web form, API);
# replies sent to a private chat in a network are the resident's own correspondence.
PUBLISHED_NETWORKS = ("web", "api")


def _appeal_page(form: AppealForm, status: int = 200, error: str | None = None):
    if embed_requested():
        sign_for_frame(form)
    participant = appeals.participant(form.participant.data)  # an unknown code: the form works without it
    form.participant.data = appeals.code_of(participant)
    return render_template("public/appeal.html", form=form, error=error, participant=participant,
                           max_total_mb=MAX_TOTAL_BYTES // 2**20), status


@bp.route("/appeal", methods=["GET", "POST"])
@csrf.exempt  # checked by the form itself: the session's CSRF token, or inside a frame its signed frame_token
def appeal():
    if request.method == "POST" and (request.content_length or 0) > MAX_BODY:
        return _appeal_page(AppealForm(formdata=None), 413, _("Слишком большой объём: все фотографии вместе — "
                                                                "не больше 25 МБ"))
    request.max_content_length = MAX_BODY  # a body without Content-Length is cut off at the same size
    embedded = embed_requested()
    try:
        form = AppealForm(meta={"csrf": False}) if embedded else AppealForm()
    except RequestEntityTooLarge:
        return _appeal_page(AppealForm(formdata=None), 413, _("Слишком большой объём: все фотографии вместе — "
                                                                "не больше 25 МБ"))
    if not form.is_submitted():
        form.participant.data = request.args.get("p", type=str)
        return _appeal_page(form)

    if not (frame_token_ok(form) if embedded else _session_csrf_ok()):
        return _appeal_page(form, 400, _("Форма устарела: обновите страницу и отправьте обращение ещё раз"))
    submission = form.submission
    if appeals.by_submission(submission) is not None:  # a double click or a reload of the POST: the first one counts
        return redirect(url_for("public.appeal_done", submission=submission), 303)
    now = utcnow()
    ip = request.remote_addr or "-"
    if appeals.too_many(ip, now):
        per_hour, per_day = appeals.limits()
        return _appeal_page(form, 429, _("С вашего адреса уже отправлено много обращений (не больше %(hour)s в час "
                                         "и %(day)s в сутки). Попробуйте позже или позвоните в администрацию.",
                                         hour=per_hour, day=per_day))
    if not form.validate():
        return _appeal_page(form, 422, _("Проверьте поля, отмеченные ниже"))

    fields = {"text": form.text.data, "address": form.address.data, "name": form.name.data,
              "phone": form.phone.data or None, "email": form.email.data or None,
              "participant": appeals.code_of(appeals.participant(form.participant.data))}
    done = None
    try:
        done = appeals.submit(submission, fields, form.checked_photos, ip, now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        if done is not None:  # written before the commit failed (submit removes its own on its errors)
            appeals.discard(done)
        raise
    if not done.new_ids:  # the same submission raced in from a second request: keep only its files
        appeals.discard(done)
    return redirect(url_for("public.appeal_done", submission=submission), 303)


def _session_csrf_ok() -> bool:
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def _receipt(submission: str) -> tuple[Message, Ticket | None]:
    message = appeals.by_submission(submission)
    if message is None:
        abort(404)
    return message, message.ticket  # merged later: its status page links the main ticket


def _receipt_context(submission: str) -> dict:
    message, ticket = _receipt(submission)
    # The link as the resident reads and copies it (the number unescaped: БЛГ-…, not %D0%91…).
    # The resident's own link carries the verdict token: with it the page asks «Проблема решена?».
    link = unquote(url_for("public.status", number=ticket.number, v=verdict.token(ticket), _external=True)) \
        if ticket else None
    return {"submission": submission, "message": message, "ticket": ticket, "status_link": link,
            "status_token": verdict.token(ticket) if ticket else None}


@bp.get("/appeal/done/<submission>")
def appeal_done(submission: str):
    return render_template("public/appeal_done.html", **_receipt_context(submission))


@bp.get("/appeal/done/<submission>/number")
def appeal_number(submission: str):
    """The receipt's number block: polled by HTMX until the triage has made the ticket. While it is still waiting
    (no ticket, not triaged: the answer holds nothing of the resident's) it carries an ETag, and a poll that finds
    it unchanged is a 304; the answer with the number and the resident's status link is never kept."""
    ctx = _receipt_context(submission)
    message, ticket = ctx["message"], ctx["ticket"]
    waiting = ticket is None and not message.triaged_at
    tag = etag_of("public.appeal_number", submission, message.id, waiting)
    if waiting and (hit := not_modified(tag)):
        return hit
    return poll_response(render_template("public/_number.html", **ctx), tag, cacheable=waiting)


# --- public status --------------------------------------------------------------------------------
@bp.get("/status")
def status_lookup():
    form = StatusLookupForm(request.args)
    if not request.args:
        return _status_page(None, form)
    if form.validate():
        number = form.number.data.strip().upper()
        if db.session.scalar(select(Ticket.id).where(Ticket.number == number)) is not None:
            return redirect(url_for("public.status", number=number))
        form.number.errors = [_("Обращение с таким номером не найдено. Проверьте номер.")]
        return _status_page(None, form, status=404)
    return _status_page(None, form, status=422)


def _status_page(ticket: Ticket | None, lookup: StatusLookupForm, replies: list | None = None, status: int = 200,
                 **context):
    context.setdefault("own", False)
    return render_template("public/status.html", ticket=ticket, lookup=lookup, replies=replies or [],
                           published=PUBLISHED_NETWORKS, **context), status


def _ticket_by_number(number: str) -> Ticket:
    number = number.strip().upper()
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number)) if len(number) <= 32 else None
    if ticket is None:
        abort(404)
    return ticket


def _ticket_page(ticket: Ticket, token: str | None, outcome: str | None = None, status: int = 200):
    stmt = (select(Reply).where(Reply.ticket_id == ticket.id, Reply.kind.in_(PUBLIC_REPLY_KINDS),
                                Reply.state == "sent")
            .order_by(Reply.sent_at, Reply.id))
    # the resident's personal link (from the receipt or the answer): whose it is, each resident answers for themselves
    own, resident = verdict.token_resident(ticket, token)
    # Numbers are sequential: without the personal link the page shows the status and dates only.
    rows = list(db.session.scalars(stmt)) if own else []
    texts = {r.id: r.text if own else verdict.strip_token(r.text) for r in rows}
    voted, rated = verdict.has_verdict(ticket, resident), verdict.has_rating(ticket, resident)
    ask = own and verdict.accepts_answers(ticket, utcnow()) and not (voted and rated)
    return _status_page(ticket, StatusLookupForm(formdata=None), rows, status, texts=texts, own=own,
                        verdict_token=token if own else None, verdict_ask=ask, verdict_outcome=outcome,
                        verdict_voted=voted, verdict_rated=rated)


@bp.get("/status/<number>")
def status(number: str):
    return _ticket_page(_ticket_by_number(number), request.args.get("v"))


@bp.post("/status/<number>/verdict")
def status_verdict(number: str):
    """«Проблема решена?» from the status page: only with the resident's token (CSRF applies too)."""
    ticket = db.session.scalar(select(Ticket).where(Ticket.number == number.strip().upper())
                               .with_for_update()) if len(number) <= 32 else None
    if ticket is None:
        abort(404)
    token = request.form.get("v")
    own, resident = verdict.token_resident(ticket, token)
    if not own:
        abort(403)
    answer = request.form.get("answer") or ""
    if answer not in verdict.VERDICTS + verdict.RATINGS:
        return _ticket_page(ticket, token, "invalid", 422)
    outcome = verdict.apply(ticket, answer, resident, via=resident.network if resident else ticket.network)
    db.session.commit()
    return _ticket_page(ticket, token, outcome)
