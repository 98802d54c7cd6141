"""/admin/participants: the participants (admin, press) and their accounts (admin, press; smm: its own).
Thin views: the rules are in services/participants.py, services/accounts/registry.py and services/access.py."""
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from app.blueprints.participants_admin.forms import (
    ActiveForm,
    AddressForm,
    ClearForm,
    ConfirmAccountForm,
    CredentialsForm,
    OtherAccountForm,
    ParticipantFilterForm,
    ParticipantForm,
)
from app.extensions import db
from app.models import Account
from app.security import FILE_CSP
from app.services import access, participants
from app.services.accounts import collection, registry
from app.services.errors import DomainError

bp = Blueprint("participants_admin", __package__, url_prefix="/admin/participants")


@bp.before_request
@login_required
def require_section():
    if not access.can_see_participants(current_user):
        abort(403)


def _field_error(form, exc: DomainError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, exc.message]


@bp.get("")
def index():
    if not access.can_manage_participants(current_user):  # an smm specialist: straight to its participant
        return redirect(url_for("participants_admin.accounts", institution_id=current_user.institution_id))
    form = ParticipantFilterForm(request.args)
    form.validate()
    filters = participants.Filters(q=form.q.data or "", direction_id=form.direction.data if not form.direction.errors
                                   else None, receives={"1": True, "0": False}.get(form.receives.data or ""))
    return render_template("participants_admin/index.html", form=form,
                           rows=participants.listing(current_user, filters), limit=participants.LIST_LIMIT)


def _data(form) -> participants.ParticipantData:
    return participants.ParticipantData(
        name=form.name.data or "", short_name=form.short_name.data or "", direction_id=form.direction_id.data,
        address=form.address.data or "", site=form.site.data or "", smm_name=form.smm_name.data or "",
        smm_contacts=form.smm_contacts.data or "", receives_appeals=bool(form.receives_appeals.data),
        public_feedback=bool(form.public_feedback.data), slug=form.slug.data or "",
        posts_need_approval=bool(form.posts_need_approval.data))


def _save_participant(form, inst):
    """Validate, apply, store the logo, commit: the participant, or None with the errors on the form."""
    upload_dir = current_app.config["UPLOAD_DIR"]
    if not form.validate():
        return None
    old_logo = None
    try:
        if inst is None:
            inst = participants.create(current_user, _data(form))
        else:
            participants.update(current_user, inst, _data(form))
        upload = request.files.get(form.logo.name)
        if upload is not None and upload.filename:
            content = participants.read_upload(upload.stream, current_app.config["PARTICIPANT_LOGO_MAX_BYTES"])
            old_logo = participants.set_logo(current_user, inst, content, upload_dir)
        elif form.remove_logo.data:
            old_logo = participants.clear_logo(current_user, inst)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _field_error(form, exc)
        return None
    except IntegrityError:  # the same name or page address saved by someone else a moment ago
        db.session.rollback()
        form.name.errors = [*form.name.errors, _("Участник с таким названием или адресом страницы уже есть")]
        return None
    participants.remove_file(upload_dir, old_logo)
    return inst


@bp.route("/new", methods=["GET", "POST"])
def create():
    access.ensure_can_manage_participants(current_user)
    form = ParticipantForm()
    if request.method == "POST":
        inst = _save_participant(form, None)
        if inst is not None:
            flash(_("Участник «%(name)s» добавлен", name=inst.short_name), "ok")
            return redirect(url_for("participants_admin.edit", institution_id=inst.id), 303)
    return render_template("participants_admin/form.html", form=form, inst=None), \
        422 if request.method == "POST" else 200


@bp.route("/<int:institution_id>", methods=["GET", "POST"])
def edit(institution_id: int):
    access.ensure_can_manage_participants(current_user)
    inst = participants.get(institution_id)
    form = ParticipantForm(obj=inst) if request.method == "GET" else ParticipantForm()
    if request.method == "POST":
        if _save_participant(form, inst) is not None:
            flash(_("Сохранено"), "ok")
            return redirect(url_for("participants_admin.edit", institution_id=inst.id), 303)
        db.session.refresh(inst)
    return render_template("participants_admin/form.html", form=form, inst=inst), \
        422 if request.method == "POST" else 200


@bp.get("/<int:institution_id>/logo")
def logo(institution_id: int):
    inst = participants.get(institution_id)
    access.ensure_can_manage_accounts(current_user, inst)
    content, mime = participants.logo(inst, current_app.config["UPLOAD_DIR"])
    resp = Response(content, content_type=mime)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = FILE_CSP
    resp.headers["Cache-Control"] = "private, max-age=300"
    return resp


# --- accounts ------------------------------------------------------------------------------------------------------
def _accounts_page(inst, status: int = 200, **context):
    context.setdefault("address_form", AddressForm(formdata=None))
    context.setdefault("other_form", OtherAccountForm(formdata=None))
    context.setdefault("found", None)
    return render_template("participants_admin/accounts.html", inst=inst,
                           accounts=registry.accounts_of(current_user, inst),
                           manage=access.can_manage_participants(current_user),
                           can_confirm=access.can_confirm_accounts(current_user), **context), status


def _participant(institution_id: int):
    inst = participants.get(institution_id)
    access.ensure_can_manage_accounts(current_user, inst)  # another participant's: 404, as a missing one
    return inst


@bp.get("/<int:institution_id>/accounts")
def accounts(institution_id: int):
    return _accounts_page(_participant(institution_id))


@bp.post("/<int:institution_id>/accounts/resolve")
def account_resolve(institution_id: int):
    """Step 1: the pasted address → the platform's answer, shown to confirm. Nothing is saved."""
    inst = _participant(institution_id)
    form = AddressForm()
    if not form.validate():
        return _accounts_page(inst, 422, address_form=form)
    try:
        found = registry.preview(current_user, inst, form.address.data, current_app.config)
    except DomainError as exc:
        _field_error(form, exc)
        return _accounts_page(inst, 422, address_form=form)
    confirm = ConfirmAccountForm(formdata=None, address=form.address.data, network=found.network,
                                 external_id=found.external_id)
    return _accounts_page(inst, address_form=form, found=found, confirm_form=confirm)


@bp.post("/<int:institution_id>/accounts")
def account_add(institution_id: int):
    """Step 2: the staff confirmed what the platform said; it is resolved again and saved."""
    inst = _participant(institution_id)
    form = ConfirmAccountForm()
    address_form = AddressForm(formdata=None, address=form.address.data)
    if not form.validate():
        return _accounts_page(inst, 422, address_form=address_form)
    try:
        account = registry.add(current_user, inst, form.address.data, form.external_id.data, current_app.config)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _field_error(address_form, exc)
        return _accounts_page(inst, 422, address_form=address_form)
    except IntegrityError:  # the same account saved by someone else a moment ago
        db.session.rollback()
        address_form.address.errors = [_("Этот аккаунт уже добавлен")]
        return _accounts_page(inst, 422, address_form=address_form)
    flash(_("Аккаунт «%(title)s» добавлен", title=account.title), "ok")
    return redirect(url_for("participants_admin.account", institution_id=inst.id, account_id=account.id), 303)


@bp.post("/<int:institution_id>/accounts/other")
def account_add_other(institution_id: int):
    inst = _participant(institution_id)
    form = OtherAccountForm()
    try:
        if not form.validate():
            raise DomainError(_("Проверьте поля"))
        registry.add_other(current_user, inst, form.label.data, form.url.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _field_error(form, exc)
        return _accounts_page(inst, 422, other_form=form)
    flash(_("Ссылка добавлена"), "ok")
    return redirect(url_for("participants_admin.accounts", institution_id=inst.id), 303)


def _account_page(inst, account, status: int = 200, form=None, rights: str | None = None, error: str | None = None):
    return render_template("participants_admin/account.html", inst=inst, account=account, error=error,
                           state=registry.credential_state(account), form=form or CredentialsForm(formdata=None),
                           takes_credentials=registry.takes_credentials(account), rights=rights,
                           bot_networks=registry.BOT_NETWORKS, clear_form=ClearForm(formdata=None),
                           active_form=ActiveForm(formdata=None, active="0" if account.is_active else "1"),
                           bot=current_app.config.get("TELEGRAM_BOT_USERNAME"),
                           max_bot=current_app.config.get("MAX_BOT_NAME"),
                           can_confirm=access.can_confirm_accounts(current_user)), status


@bp.get("/<int:institution_id>/accounts/<int:account_id>")
def account(institution_id: int, account_id: int):
    inst = _participant(institution_id)
    return _account_page(inst, registry.get(current_user, inst, account_id))


@bp.post("/<int:institution_id>/accounts/<int:account_id>/credentials")
def account_credentials(institution_id: int, account_id: int):
    inst = _participant(institution_id)
    acc = registry.get(current_user, inst, account_id)
    form = CredentialsForm()
    try:
        if not form.validate():
            raise DomainError(_("Проверьте поля"))
        rights = registry.save_credentials(current_user, inst, acc, current_app.config, token=form.token.data,
                                           secret=form.secret.data, confirmation_code=form.confirmation_code.data,
                                           user_token=form.user_token.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        _field_error(form, exc)
        return _account_page(inst, acc, 422, form=_blank_secrets(form), error=exc.message)
    flash(_("Сохранено и проверено: %(rights)s", rights=rights) if rights else _("Сохранено"), "ok")
    return redirect(url_for("participants_admin.account", institution_id=inst.id, account_id=acc.id), 303)


def _blank_secrets(form):
    """The form sent back with its errors, but never with the tokens typed into it."""
    for name in ("token", "secret", "user_token"):
        getattr(form, name).data = ""
    return form


@bp.post("/<int:institution_id>/accounts/<int:account_id>/bot")
def account_bot(institution_id: int, account_id: int):
    """Telegram and MAX: does the city's bot administer the channel?"""
    inst = _participant(institution_id)
    acc = registry.get(current_user, inst, account_id)
    try:
        if not ActiveForm().validate():
            raise DomainError(_("Обновите страницу и повторите"))
        rights = registry.check_bot(current_user, inst, acc, current_app.config)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _account_page(inst, acc, 422, error=exc.message)
    flash(rights, "ok")
    return redirect(url_for("participants_admin.account", institution_id=inst.id, account_id=acc.id), 303)


@bp.post("/<int:institution_id>/accounts/<int:account_id>/collect")
def account_collect(institution_id: int, account_id: int):
    """«Обновить»: ask the platform for the account's figures now (the same path as the periodic collection)."""
    inst = _participant(institution_id)
    acc = registry.get(current_user, inst, account_id)
    if not ActiveForm().validate():
        return _account_page(inst, acc, 422, error=_("Обновите страницу и повторите"))
    if acc.network == "other" or not acc.is_active:
        return _account_page(inst, acc, 422, error=_("Этот аккаунт не собирается: ссылка без статистики или он "
                                                     "отключён"))
    summary = collection.collect_account(acc.id)
    if summary.failed:
        return _account_page(inst, db.session.get(Account, acc.id), 422, error=summary.failed[0].error)
    flash(_("Показатели обновлены"), "ok")
    return redirect(url_for("participants_admin.account", institution_id=inst.id, account_id=acc.id), 303)


@bp.post("/<int:institution_id>/accounts/<int:account_id>/clear")
def account_clear(institution_id: int, account_id: int):
    inst = _participant(institution_id)
    acc = registry.get(current_user, inst, account_id)
    form = ClearForm()
    try:
        registry.clear_credential(current_user, inst, acc, form.which.data if form.validate() else "")
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _account_page(inst, acc, 422, error=exc.message)
    flash(_("Удалено"), "ok")
    return redirect(url_for("participants_admin.account", institution_id=inst.id, account_id=acc.id), 303)


@bp.post("/<int:institution_id>/accounts/<int:account_id>/active")
def account_active(institution_id: int, account_id: int):
    inst = _participant(institution_id)
    acc = registry.get(current_user, inst, account_id)
    form = ActiveForm()
    if not form.validate() or form.active.data not in ("0", "1"):
        return _account_page(inst, acc, 422)
    registry.set_active(current_user, inst, acc, form.active.data == "1")
    db.session.commit()
    flash(_("Аккаунт снова собирается") if acc.is_active else _("Аккаунт отключён: сбор остановлен, история сохранена"),
          "ok")
    return redirect(url_for("participants_admin.account", institution_id=inst.id, account_id=acc.id), 303)


@bp.post("/<int:institution_id>/accounts/<int:account_id>/confirm")
def account_confirm(institution_id: int, account_id: int):
    """The press service (or an admin) confirms an account an smm specialist added: the app publishes to it now."""
    inst = _participant(institution_id)
    acc = registry.get(current_user, inst, account_id)
    if not access.can_confirm_accounts(current_user):
        abort(403)
    if not ActiveForm().validate():
        return _account_page(inst, acc, 422, error=_("Обновите страницу и повторите"))
    registry.confirm(current_user, acc)
    db.session.commit()
    flash(_("Аккаунт подтверждён: публикации в него разрешены"), "ok")
    return redirect(url_for("participants_admin.account", institution_id=inst.id, account_id=acc.id), 303)
