"""/posts: compose, preview, schedule, approve and follow posts to the participants' accounts (issue 13).
Thin views: the rules are in services/publishing/posts.py and services/access.py."""
from __future__ import annotations

import calendar as month_calendar
import uuid
from datetime import date, timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from sqlalchemy import select

from app.blueprints.publishing.forms import ActionForm, ComposeForm, ReasonForm, TextForm
from app.extensions import db
from app.htmx import etag_of, not_modified, poll_response, row_state
from app.models import Institution
from app.security import FILE_CSP
from app.services import access
from app.services.errors import DomainError, ValidationFailed
from app.services.publishing import limits, posts

bp = Blueprint("publishing", __package__, url_prefix="/posts")

UPLOAD_LIMIT = posts.PHOTOS_MAX * posts.PHOTO_MAX_BYTES + 2 * 1024 * 1024  # ten photos and the form
FORM_PARTS = 5000
TABS = ("all", "mine", "approval")
LIST_LIMIT = 100  # the newest posts; older ones are on the calendar


def _upload_limit():
    """Ten photos fit in the compose form: its requests may be larger than MAX_CONTENT_LENGTH (residents' five).
    Runs before every other before_request (CSRFProtect reads the form, and with it the body, in its own)."""
    if request.endpoint in ("publishing.compose", "publishing.edit"):
        request.max_content_length = UPLOAD_LIMIT
    if request.endpoint in ("publishing.compose", "publishing.edit", "publishing.preview"):
        request.max_form_parts = FORM_PARTS  # a checkbox per account: the press service may tick hundreds


@bp.record_once
def _first(state):
    state.app.before_request_funcs.setdefault(None, []).insert(0, _upload_limit)


@bp.before_request
@login_required
def require_section():
    if not access.can_publish(current_user):
        abort(403)


def _field_error(form, exc: DomainError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is None or not hasattr(field, "errors"):
        field = form.text
    field.errors = [*field.errors, exc.message]


def _uploads(form) -> list[posts.Upload]:
    chosen = [u for u in request.files.getlist(form.photos.name) if u is not None and u.filename]
    if len(chosen) > posts.PHOTOS_MAX:  # said with the number the author chose, before any file is read
        raise ValidationFailed("К посту можно приложить не больше %(n)s фото, а выбрано %(k)s", field="photos",
                               n=posts.PHOTOS_MAX, k=len(chosen))
    return [posts.Upload(u.filename, u.stream.read(posts.PHOTO_MAX_BYTES + 1)) for u in chosen]


def _chosen() -> list[str]:
    return [v[:20] for v in request.form.getlist("accounts")[:FORM_PARTS]]


def _local_input(moment) -> str:
    city = posts.to_city(moment)
    return city.strftime("%Y-%m-%dT%H:%M") if city else ""


# --- list ------------------------------------------------------------------------------------------------------
@bp.get("")
def index():
    tab = request.args.get("tab", "all")
    if tab not in TABS or (tab == "approval" and not access.can_approve(current_user)):
        tab = "all"
    return render_template("publishing/index.html", tab=tab, rows=posts.listing(current_user, tab, LIST_LIMIT),
                           pending=posts.pending(current_user), limit=LIST_LIMIT)


# --- compose -----------------------------------------------------------------------------------------------------
def _compose_page(form, status=200, pub=None, chosen=()):
    return render_template("publishing/compose.html", form=form, pub=pub, groups=posts.grouped_targets(current_user),
                           chosen={str(c) for c in chosen}, everywhere=access.publishes_everywhere(current_user),
                           tz=posts.city_tz().key, names=limits.network_names()), status


def _at(form):
    """«Опубликовать» — now; «Запланировать» — at the time typed (required then)."""
    go = request.form.get("go")
    if go == "now":
        if (form.at.data or "").strip():  # Enter in a field presses «Опубликовать»: a typed time is never dropped
            raise ValidationFailed("Указано время публикации, а нажато «Опубликовать» (сейчас): нажмите "
                                   "«Запланировать» или очистите время, чтобы опубликовать сразу", field="at")
        return None
    moment = posts.parse_city_time(form.at.data)
    if go == "schedule" and moment is None:
        raise ValidationFailed("Укажите, когда опубликовать", field="at")
    return moment


@bp.route("/new", methods=["GET", "POST"])
def compose():
    form = ComposeForm()
    if request.method == "GET":
        form.form_key.data = uuid.uuid4().hex
        return _compose_page(form, chosen=[request.args.get("account", "")[:20]])
    chosen = _chosen()
    if not form.validate():
        return _compose_page(form, 422, chosen=chosen)
    try:
        result = posts.create(current_user, text=form.text.data or "", photos=_uploads(form), account_ids=chosen,
                              at=_at(form), link_preview=bool(form.link_preview.data), key=_form_key(form))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        if exc.field == "key":  # the form came again (back in the browser, edited) after its post was made
            form.form_key.data = uuid.uuid4().hex  # pressing again makes a new post, as the author then wants
            form.text.errors = [*form.text.errors, _(
                "Пост из этой формы уже создан (№ %(n)s), эти изменения в него не вошли. Нажмите «Опубликовать» "
                "ещё раз, чтобы сделать новый пост, или откройте созданный и измените его.",
                n=exc.params.get("id", ""))]
            return _compose_page(form, 422, chosen=chosen)
        _field_error(form, exc)
        return _compose_page(form, 422, chosen=chosen)
    pub = result.publication
    db.session.refresh(pub)  # without a queue (the embedded demo) the copies went out already
    flash(_("Пост отправлен на согласование пресс-службе") if pub.state == "awaiting_approval"
          else _("Пост опубликован") if pub.state == "done"
          else _("Пост запланирован") if pub.scheduled_at else _("Пост публикуется"), "ok")
    return redirect(url_for("publishing.detail", publication_id=pub.id), 303)


def _form_key(form) -> str | None:
    raw = form.form_key.data or ""
    return f"form-{raw}" if len(raw) == 32 and all(c in "0123456789abcdef" for c in raw) else None


def _int(value, default: int = 0, top: int = 10**9) -> int:
    value = (value or "").strip()
    return min(int(value), top) if value.isascii() and value.isdigit() and len(value) < 12 else default


def _sizes(raw: str | None) -> list[limits.Photo]:
    items = [item for item in (raw or "")[:20_000].split(",")[:FORM_PARTS] if item.strip()]  # all: «выбрано N»
    return [limits.Photo(size=_int(item, 0, 10**12)) for item in items]


@bp.post("/preview")
def preview():
    """HTMX: what each chosen network will receive, with the warnings and refusals (nothing is stored)."""
    photos = _sizes(request.form.get("photo_sizes"))
    if not photos and request.form.get("remove_photos") not in ("y", "on", "1", "true"):
        photos = _sizes(request.form.get("kept_sizes"))
    result = posts.preview(current_user, request.form.get("text", ""), photos, _chosen(),
                           request.form.get("link_preview") in ("y", "on", "1", "true"))
    return render_template("publishing/_preview.html", preview=result, names=limits.network_names(),
                           describe=describe)


def describe(network: str, part: limits.Part, index: int) -> str:
    """A planned call in words (the preview never shows the API's method names to the author)."""
    if network == "telegram":
        if part.photos == 0:
            return _("отдельное сообщение с текстом") if index > 0 else _("сообщение")
        if part.photos == 1:
            return _("фото с подписью") if part.text else _("фото без подписи")
        return (_("альбом из %(n)s фото с подписью", n=part.photos) if part.text
                else _("альбом из %(n)s фото без подписи", n=part.photos))
    photos = ngettext(", фото: %(num)s", ", фото: %(num)s", part.photos) if part.photos else ""
    if network == "vk":
        return _("запись на стене сообщества") + photos
    if network == "ok":
        return _("тема в группе") + photos
    if part.photos:
        return ngettext("сообщение в канал, фото: %(num)s", "сообщение в канал, фото: %(num)s", part.photos)
    return _("отдельное сообщение с текстом") if index > 0 else _("сообщение в канал")


# --- one post ------------------------------------------------------------------------------------------------------
def _detail_page(pub, status=200, **context):
    context.setdefault("reason_form", ReasonForm(formdata=None))
    context.setdefault("error", None)
    context.setdefault("results", {})
    context.setdefault("text_form", TextForm(formdata=None, text=pub.text))
    return render_template("publishing/detail.html", pub=pub, action_form=ActionForm(formdata=None),
                           plans=posts.plans(pub), can_edit=posts.can_edit(pub),
                           can_edit_text=posts.can_edit_published(current_user, pub),
                           can_approve=access.can_approve(current_user), live=posts.is_live(pub),
                           names=limits.network_names(), **context), status


@bp.get("/<int:publication_id>")
def detail(publication_id: int):
    return _detail_page(posts.get(current_user, publication_id))


@bp.get("/<int:publication_id>/status")
def status(publication_id: int):
    """HTMX polling of the deliveries' states while anything is scheduled or being sent."""
    pub = posts.get(current_user, publication_id)
    live = posts.is_live(pub)
    names = limits.network_names()
    # while live, a poll that finds every row as it was is a 304 (no rendering); the ETag covers every column
    # of the post and of its deliveries, and what a row shows of their accounts
    tag = etag_of("publishing.status", row_state(pub), sorted(names.items()),
                  [(row_state(d), row_state(d.account), d.account.institution.short_name if d.account else None)
                   for d in pub.deliveries])
    if live and (hit := not_modified(tag)):
        return hit
    resp = Response(render_template("publishing/_deliveries.html", pub=pub, live=live,
                                    action_form=ActionForm(formdata=None), names=names))
    if not live and request.headers.get("HX-Request"):
        resp.headers["HX-Refresh"] = "true"  # all settled: the whole page again (its actions change with the state)
    return poll_response(resp, tag, cacheable=live)


@bp.route("/<int:publication_id>/edit", methods=["GET", "POST"])
def edit(publication_id: int):
    pub = posts.get(current_user, publication_id)
    if not posts.can_edit(pub):
        flash(_("Пост уже отправляется или отправлен: изменить можно только текст опубликованного поста"), "error")
        return redirect(url_for("publishing.detail", publication_id=pub.id), 303)
    if request.method == "GET":
        form = ComposeForm(formdata=None, text=pub.text, link_preview=pub.link_preview,
                           at=_local_input(pub.scheduled_at))
        return _compose_page(form, pub=pub, chosen=[d.account_id for d in pub.deliveries])
    form = ComposeForm()
    chosen = _chosen()
    if not form.validate():
        return _compose_page(form, 422, pub=pub, chosen=chosen)
    try:
        uploads = _uploads(form)
        posts.update(current_user, pub, text=form.text.data or "", photos=uploads or None,
                     remove_photos=bool(form.remove_photos.data), account_ids=chosen,
                     at=_at(form), link_preview=bool(form.link_preview.data))
        removed = getattr(pub, "removed_paths", [])
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _field_error(form, exc)
        return _compose_page(form, 422, pub=posts.get(current_user, publication_id), chosen=chosen)
    posts.remove_files(removed)
    flash(_("Пост отправлен на согласование пресс-службе") if pub.state == "awaiting_approval"
          else _("Изменения сохранены"), "ok")
    return redirect(url_for("publishing.detail", publication_id=pub.id), 303)


def _act(publication_id: int, action, done: str, form=None):
    pub = posts.get(current_user, publication_id)
    form = form or ActionForm()
    if not form.validate():
        return _detail_page(pub, 422, error=_("Обновите страницу и повторите"))
    try:
        action(pub, form)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        pub = posts.get(current_user, publication_id)
        if isinstance(form, ReasonForm):
            form.reason.errors = [exc.message]
            return _detail_page(pub, 422, reason_form=form, error=exc.message)
        return _detail_page(pub, 422, error=exc.message)
    flash(done, "ok")
    return redirect(url_for("publishing.detail", publication_id=pub.id), 303)


@bp.post("/<int:publication_id>/cancel")
def cancel(publication_id: int):
    return _act(publication_id, lambda pub, form: posts.cancel(current_user, pub), _("Пост отменён"))


@bp.post("/<int:publication_id>/approve")
def approve(publication_id: int):
    if not access.can_approve(current_user):
        abort(403)
    return _act(publication_id, lambda pub, form: posts.approve(current_user, pub), _("Пост согласован"))


@bp.post("/<int:publication_id>/reject")
def reject(publication_id: int):
    if not access.can_approve(current_user):
        abort(403)
    return _act(publication_id, lambda pub, form: posts.reject(current_user, pub, form.reason.data or ""),
                _("Пост возвращён автору с причиной"), form=ReasonForm())


@bp.post("/<int:publication_id>/deliveries/<int:delivery_id>/resend")
def resend(publication_id: int, delivery_id: int):
    delivery = posts.get_delivery(current_user, publication_id, delivery_id)
    return _act(publication_id, lambda pub, form: posts.resend(current_user, delivery),
                _("Отправим ещё раз; уже принятые сетью части не повторяются"))


def _after(publication_id: int, action, form):
    """Edit text / delete after publishing: the outbox applies it to every copy and commits; results per account."""
    pub = posts.get(current_user, publication_id)
    if not form.validate():
        return _detail_page(pub, 422, error=_("Обновите страницу и повторите"))
    try:
        results = action(pub, form)
    except DomainError as exc:
        db.session.rollback()
        pub = posts.get(current_user, publication_id)
        extra = {"text_form": form} if isinstance(form, TextForm) else {}
        return _detail_page(pub, 422, error=exc.message, **extra)
    db.session.commit()
    pub = posts.get(current_user, publication_id)
    return _detail_page(pub, results=results or {})


@bp.post("/<int:publication_id>/text")
def edit_published(publication_id: int):
    return _after(publication_id, lambda pub, form: posts.edit_published(current_user, pub, form.text.data or ""),
                  TextForm())


@bp.post("/<int:publication_id>/delete")
def delete_published(publication_id: int):
    def delete(pub, form):
        if form.confirm.data != "yes":
            raise ValidationFailed("Отметьте «Да, удалить везде», чтобы удалить пост")
        return posts.delete_published(current_user, pub)
    return _after(publication_id, delete, ActionForm())


@bp.get("/photos/<int:photo_id>")
def photo(photo_id: int):
    content, mime = posts.photo_file(current_user, photo_id)
    resp = Response(content, content_type=mime)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = FILE_CSP
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


# --- calendar ------------------------------------------------------------------------------------------------------
def _day(raw: str | None) -> date:
    try:
        return date.fromisoformat((raw or "")[:10])
    except ValueError:
        return posts.to_city(posts.utcnow()).date()


def _shift_month(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(max(min(year, 9998), 2), month + 1, 1)


@bp.get("/calendar")
def calendar():
    view = request.args.get("view", "week")
    view = view if view in ("week", "month") else "week"
    day = _day(request.args.get("date"))
    if not date(1, 1, 1) + timedelta(days=400) < day < date(9999, 1, 1) - timedelta(days=400):
        day = posts.to_city(posts.utcnow()).date()
    choices = posts.participant_choices(current_user)
    participant = None
    if access.publishes_everywhere(current_user):
        slug = (request.args.get("participant") or "")[:80]
        participant = next((inst for inst in choices if inst.slug == slug), None) if slug else None
    else:
        participant = db.session.scalar(select(Institution).where(Institution.id == current_user.institution_id))
    if view == "week":
        start = day - timedelta(days=day.weekday())
        days, prev_day, next_day = 7, start - timedelta(days=7), start + timedelta(days=7)
    else:
        first = day.replace(day=1)
        start = first - timedelta(days=first.weekday())
        last = first.replace(day=month_calendar.monthrange(first.year, first.month)[1])
        days = ((last - start).days // 7 + 1) * 7
        prev_day, next_day = _shift_month(first, -1), _shift_month(first, 1)
    by_day = posts.calendar(current_user, start, days, participant)
    return render_template("publishing/calendar.html", view=view, day=day, by_day=by_day, start=start,
                           participant=participant, choices=choices, prev_day=prev_day, next_day=next_day,
                           today=posts.to_city(posts.utcnow()).date(), moment=posts.moment,
                           everywhere=access.publishes_everywhere(current_user))


# --- rights -------------------------------------------------------------------------------------------------------
@bp.post("/accounts/<int:account_id>/rights")
def rights(account_id: int):
    """HTMX «проверить права»: may the app publish to this account, and if not, why (the platform asked now)."""
    if not ActionForm().validate():
        return render_template("publishing/_rights.html", account=None, error=_("Обновите страницу и повторите")), 422
    try:
        account, _answer = posts.check_rights(current_user, account_id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return render_template("publishing/_rights.html", account=None, error=exc.message), exc.status_code
    return render_template("publishing/_rights.html", account=account, error=None)
