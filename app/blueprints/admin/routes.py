from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from app.blueprints.admin.forms import (
    CalendarDayForm,
    CalendarImportForm,
    CategoryRulesForm,
    HoursForm,
    PolicyForm,
    RoutingActionForm,
    RoutingRuleForm,
    StreetForm,
    StreetsImportForm,
    UserActiveForm,
    UserCreateForm,
    UserLinkForm,
    UserPasswordForm,
    UserRoleForm,
    UsersImportConfirmForm,
    UsersImportForm,
)
from app.extensions import db
from app.htmx import form_errors, parse_id, render, wants_fragment
from app.models import Category, Institution, SlaPolicy, User, utcnow
from app.models.calendar import CALENDAR_KIND_LABELS
from app.services import access, addresses, admin, routing_rules, tickets, users
from app.services.errors import DomainError
from app.services.routing_model import overview
from app.services.sla import calendar

bp = Blueprint("admin", __package__, url_prefix="/admin")


@bp.before_request
@login_required
def require_admin():
    if current_user.role != "admin":
        abort(403)


def field_error(form, exc: DomainError) -> str:
    """Put a domain error under its field when the form has it; the message for the page either way."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, exc.message]
    return exc.message


def _save(form, apply, done: str = "Сохранено") -> tuple[str | None, str | None]:
    """Validate `form`, run `apply()` and commit: (error, None) or (None, notice) for the fragment."""
    if not form.validate():
        return form_errors(form), None
    try:
        apply()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return field_error(form, exc), None
    return None, done


@bp.get("")
def index():
    return render_template("admin/index.html", networks=admin.network_statuses(),
                           rejections=admin.recent_rejections(20),
                           hook_base=request.url_root.rstrip("/") + url_for("webhooks.hook", network="x")[:-1])


@bp.get("/rejections")
def rejections():
    return render_template("admin/rejections.html", rejections=admin.recent_rejections(200))


def _category_rows(failed: tuple[int, object] | None = None) -> list:
    """Each category with its form; `failed` = (id, form): that row shows the form as it was sent."""
    return [(c, failed[1] if failed and failed[0] == c.id else
             CategoryRulesForm(keywords=c.keywords, default_institution_id=c.default_institution_id,
                               formdata=None, prefix=f"c{c.id}")) for c in admin.categories()]


@bp.get("/categories")
def categories():
    return render_template("admin/categories.html", rows=_category_rows())


@bp.post("/categories/<int:category_id>")
def update_category(category_id: int):
    category = tickets.require(Category, category_id, "Рубрика не найдена")
    form = CategoryRulesForm(prefix=f"c{category.id}")
    error, notice = _save(form, lambda: admin.update_category_rules(
        current_user, category, form.keywords.data or "", form.default_institution_id.data))
    return _answer_row("admin/categories.html", "admin/_category.html", "admin.categories",
                       lambda: _category_rows((category.id, form)), error, notice, c=category, form=form)


def _answer_row(page: str, fragment: str, list_endpoint: str, rows, error, notice, **row):
    """The answer to a row's form: with HTMX the row alone (422 with its errors); without JavaScript the whole
    list again — `rows()` with the failed form kept, or a redirect to the list (303) after a save."""
    if wants_fragment():
        return render(page, fragment, status=422 if error else 200, error=error, notice=notice, **row)
    flash(error or notice, "error" if error else "ok")
    if error:
        return render_template(page, rows=rows()), 422
    return redirect(url_for(list_endpoint), 303)


def _policy_rows(failed: tuple[int, object] | None = None) -> list:
    """Each SLA policy with its form; `failed` = (id, form): that row shows the form as it was sent."""
    return [(p, failed[1] if failed and failed[0] == p.id else PolicyForm(obj=p, formdata=None, prefix=f"p{p.id}"))
            for p in admin.policies()]


@bp.get("/sla")
def sla_policies():
    return render_template("admin/sla.html", rows=_policy_rows())


@bp.post("/sla/<int:policy_id>")
def update_policy(policy_id: int):
    policy = tickets.require(SlaPolicy, policy_id, "Политика не найдена")
    form = PolicyForm(prefix=f"p{policy.id}")
    error, notice = _save(form, lambda: admin.update_policy(
        current_user, policy, form.first_response_minutes.data, form.resolution_minutes.data,
        bool(form.business_hours.data), form.warning_percent.data),
        "Сохранено. Новые сроки действуют для новых обращений.")
    return _answer_row("admin/sla.html", "admin/_policy.html", "admin.sla_policies",
                       lambda: _policy_rows((policy.id, form)), error, notice, p=policy, form=form)


def _year() -> int:
    y = parse_id(request.args.get("year"))
    return y if y and 2000 <= y <= 2100 else utcnow().year


def _calendar_page(year: int, day_form=None, import_form=None, error=None, notice=None, status=200):
    return render_template("admin/calendar.html", year=year, days=admin.calendar_year(year),
                           day_form=day_form or CalendarDayForm(formdata=None),
                           import_form=import_form or CalendarImportForm(formdata=None),
                           labels=CALENDAR_KIND_LABELS, error=error, notice=notice), status


@bp.get("/calendar")
def calendar_page():
    return _calendar_page(_year())


@bp.post("/calendar/day")
def calendar_day():
    form = CalendarDayForm()
    year = form.date.data.year if form.date.data else _year()
    if not form.validate():
        return _calendar_page(year, day_form=form, error=form_errors(form), status=422)
    try:
        calendar.set_calendar_day(form.date.data, form.kind.data, form.note.data, form.source.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _calendar_page(year, day_form=form, error=exc.message, status=422)
    return redirect(url_for("admin.calendar_page", year=year))


@bp.post("/calendar/day/<day>/delete")
def calendar_day_delete(day: str):
    try:
        calendar.remove_calendar_day(day)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _calendar_page(_year(), error=exc.message, status=422)
    return redirect(url_for("admin.calendar_page", year=day[:4] if day[:4].isascii() and day[:4].isdigit() else None))


@bp.post("/calendar/import")
def calendar_import():
    form = CalendarImportForm()
    if not form.validate():
        return _calendar_page(_year(), import_form=form, error=form_errors(form), status=422)
    try:
        count = calendar.import_year(admin.parse_calendar_lines(form.rows.data), source=form.source.data or "")
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _calendar_page(_year(), import_form=form, error=exc.message, status=422)
    return _calendar_page(_year(), notice=f"Загружено дней: {count}")


@bp.get("/institutions")
def institutions():
    rows = [(i, HoursForm(business_hours=i.business_hours or "", formdata=None, prefix=f"i{i.id}"))
            for i in admin.institutions()]
    return render_template("admin/institutions.html", rows=rows, city_hours=current_app.config["BUSINESS_HOURS"])


@bp.post("/institutions/<int:institution_id>/hours")
def institution_hours(institution_id: int):
    inst = tickets.require(Institution, institution_id, "Учреждение не найдено")
    form = HoursForm(prefix=f"i{inst.id}")
    error, notice = _save(form, lambda: admin.set_business_hours(current_user, inst, form.business_hours.data))
    return render_template("admin/_institution.html", i=inst, form=form, error=error, notice=notice,
                           city_hours=current_app.config["BUSINESS_HOURS"]), 422 if error else 200


# --- staff accounts -------------------------------------------------------------------------------------
def _user_forms(u: User) -> dict:
    return {"role_form": UserRoleForm(role=u.role, institution_id=u.institution_id, formdata=None, prefix=f"u{u.id}"),
            "password_form": UserPasswordForm(formdata=None, prefix=f"p{u.id}"),
            # the button sends what it does: switch off an active user, switch on an inactive one
            "active_form": UserActiveForm(active="0" if u.is_active_user else "1", formdata=None, prefix=f"a{u.id}")}


def _users_page(create_form=None, status: int = 200, error: str | None = None, row: dict | None = None):
    rows = []
    for u in users.all_users():
        forms = row if row and row["u"].id == u.id else {"u": u, **_user_forms(u)}
        rows.append(forms)
    return render_template("admin/users.html", rows=rows, create_form=create_form or UserCreateForm(formdata=None),
                           error=error), status


@bp.get("/users")
def users_page():
    return _users_page()


@bp.post("/users")
def user_create():
    form = UserCreateForm()
    if not form.validate():
        return _users_page(form, 422, _("Проверьте поля, отмеченные ниже"))
    try:
        user = users.create(current_user, form.username.data, form.password.data, form.role.data,
                            form.institution_id.data, form.full_name.data, form.email.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        field_error(form, exc)
        return _users_page(form, 422, _("Проверьте поля, отмеченные ниже"))
    flash(_("Пользователь «%(name)s» создан", name=user.username), "ok")
    return redirect(url_for("admin.users_page"), 303)


def _user_row(u: User, apply, form_key: str, form, done: str):
    forms = {"u": u, **_user_forms(u), form_key: form}
    error, notice = _save(form, apply, done)
    if error is None:
        forms.update({k: v for k, v in _user_forms(u).items() if k == form_key})  # a fresh, empty form
    status = 422 if error else 200
    if wants_fragment():
        return render_template("admin/_user.html", **forms, error=error, notice=notice), status
    if error:
        return _users_page(status=status, error=error, row=forms)
    flash(notice, "ok")
    return redirect(url_for("admin.users_page"), 303)


@bp.post("/users/<int:user_id>/role")
def user_role(user_id: int):
    u = tickets.require(User, user_id, "Пользователь не найден")
    form = UserRoleForm(prefix=f"u{u.id}")
    return _user_row(u, lambda: users.set_role(current_user, u, form.role.data, form.institution_id.data),
                     "role_form", form, _("Роль сохранена"))


@bp.post("/users/<int:user_id>/active")
def user_active(user_id: int):
    u = tickets.require(User, user_id, "Пользователь не найден")
    form = UserActiveForm(prefix=f"a{u.id}")
    active = form.active.data == "1"
    return _user_row(u, lambda: users.set_active(current_user, u, active), "active_form", form,
                     _("Пользователь снова может входить") if active else
                     _("Пользователь отключён, его сеансы завершены"))


@bp.post("/users/<int:user_id>/password")
def user_password(user_id: int):
    u = tickets.require(User, user_id, "Пользователь не найден")
    form = UserPasswordForm(prefix=f"p{u.id}")
    return _user_row(u, lambda: users.reset_password(current_user, u, form.password.data), "password_form", form,
                     _("Пароль изменён, сеансы пользователя завершены"))


# --- SMM specialists from a CSV, one-time links ---------------------------------------------------------------
def _link(token: str) -> str:
    return url_for("auth.set_password", token=token, _external=True)


@bp.get("/users/import")
def users_import():
    return render_template("admin/users_import.html", form=UsersImportForm(formdata=None), rows=None)


@bp.post("/users/import")
def users_import_preview():
    """Step 1: the file's rows with their errors; nothing is created."""
    form = UsersImportForm()
    upload = request.files.get("file")
    try:
        if not form.validate() or upload is None or not upload.filename:
            raise DomainError(_("Выберите CSV-файл"), field="file")
        data = upload.stream.read(users.CSV_MAX_BYTES + 1)
        rows = users.parse_smm_csv(data)
    except DomainError as exc:
        field_error(form, exc)
        return render_template("admin/users_import.html", form=form, rows=None), 422
    confirm = UsersImportConfirmForm(formdata=None, rows=data.decode("utf-8-sig"))
    return render_template("admin/users_import.html", form=form, rows=rows, confirm=confirm)


@bp.post("/users/import/create")
def users_import_create():
    """Step 2: the rows checked again; every row without errors becomes an smm user with a one-time link."""
    form = UsersImportConfirmForm()
    try:
        if not form.validate():
            raise DomainError(_("Загрузите файл ещё раз"))
        rows = users.parse_smm_csv(form.rows.data or "")
        created = users.create_smm_users(current_user, rows)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return render_template("admin/users_import.html", form=UsersImportForm(formdata=None), rows=None), 422
    links = [(user, _link(token)) for user, token in created]
    mailed = users.mail_password_links(links)
    resp = make_response(render_template("admin/users_links.html", links=links, mailed=mailed,
                                         skipped=[r for r in rows if not r.ok]))
    resp.headers["Cache-Control"] = "no-store"  # the links are shown once
    return resp


@bp.post("/users/<int:user_id>/link")
def user_link(user_id: int):
    """A new one-time link for an existing user (the previous one stops working)."""
    u = tickets.require(User, user_id, "Пользователь не найден")
    form = UserLinkForm()
    try:
        if not form.validate():
            raise DomainError(_("Обновите страницу и повторите"))
        token = users.issue_password_link(current_user, u)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        return _users_page(status=422, error=exc.message)
    links = [(u, _link(token))]
    resp = make_response(render_template("admin/users_links.html", links=links,
                                         mailed=users.mail_password_links(links), skipped=[]))
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- the city's streets (addresses in residents' words are matched against them) -------------------------
def _streets_page(form=None, import_form=None, result=None, status: int = 200):
    return render_template("admin/streets.html", streets=addresses.streets(), form=form or StreetForm(formdata=None),
                           import_form=import_form or StreetsImportForm(formdata=None), result=result), status


@bp.get("/streets")
def streets():
    return _streets_page()


@bp.post("/streets")
def street_add():
    form = StreetForm()
    error, notice = _save(form, lambda: addresses.add_street(form.name.data, form.district.data, form.aliases.data),
                          _("Улица добавлена"))
    if error:
        return _streets_page(form=form, status=422)
    flash(notice, "ok")
    return redirect(url_for("admin.streets"))


@bp.post("/streets/<int:street_id>/delete")
def street_delete(street_id: int):
    form = StreetsImportForm()  # CSRF only
    if not form.validate():
        abort(400)
    try:
        addresses.delete_street(street_id)
        db.session.commit()
    except DomainError:
        db.session.rollback()
        abort(404)
    flash(_("Улица удалена"), "ok")
    return redirect(url_for("admin.streets"))


@bp.post("/streets/import")
def streets_import():
    form = StreetsImportForm()
    upload = request.files.get("file")
    try:
        if not form.validate() or upload is None or not upload.filename:
            raise DomainError(_("Выберите CSV-файл"), field="file")
        result = addresses.import_csv(upload.stream.read(addresses.CSV_MAX_BYTES + 1))
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        field_error(form, exc)
        return _streets_page(import_form=form, status=422)
    return _streets_page(result=result, status=200 if not result.errors else 422)


# --- the learned router: its models, the evaluation report, retraining, the override rules (issue 15) ----------
def _require_routing_admin() -> None:
    if not access.can_admin_routing(current_user):
        abort(403)


def _rule_form(rule, formdata=None):
    form = RoutingRuleForm(formdata=formdata, prefix=f"r{rule.id}", name=rule.name, pattern=rule.pattern,
                           category_id=str(rule.category_id or ""), institution_id=str(rule.institution_id or ""),
                           note=rule.note, is_active=rule.is_active)
    return form


def _routing_page(new_form=None, failed: tuple[int, object] | None = None, status: int = 200):
    """The page; `failed` = (rule id, form): that rule's edit form as it was sent, with its errors, open."""
    rows = [(r, failed[1] if failed and failed[0] == r.id else _rule_form(r)) for r in routing_rules.rules()]
    return render_template("admin/routing.html", models=overview.current_models(), report=overview.last_report(),
                           pending=overview.pending(), titles=overview.TITLES, rows=rows,
                           open_id=failed[0] if failed else None,
                           new_form=new_form or RoutingRuleForm(formdata=None, prefix="new"),
                           action_form=RoutingActionForm(formdata=None)), status


@bp.get("/routing")
def routing_page():
    _require_routing_admin()
    return _routing_page()


def _request_run(kind: str, done: str):
    _require_routing_admin()
    if not RoutingActionForm().validate():
        abort(400)
    overview.request(current_user, kind)
    db.session.commit()  # the job is enqueued once the request is committed
    flash(done, "ok")
    return redirect(url_for("admin.routing_page"), 303)


@bp.post("/routing/evaluate")
def routing_evaluate():
    return _request_run("evaluate", _("Оценка запущена: отчёт появится здесь, когда будет готов"))


@bp.post("/routing/train")
def routing_train():
    return _request_run("train", _("Обучение запущено: новая модель заменит текущую, только если она лучше"))


def _rule_values(form) -> dict:
    return {"name": form.name.data, "pattern": form.pattern.data, "category_id": form.category_id.data,
            "institution_id": form.institution_id.data, "note": form.note.data}


@bp.post("/routing/rules")
def routing_rule_create():
    _require_routing_admin()
    form = RoutingRuleForm(prefix="new")
    error, _notice = _save(form, lambda: routing_rules.create(current_user, is_active=bool(form.is_active.data),
                                                              **_rule_values(form)))
    if error:
        return _routing_page(new_form=form, status=422)
    flash(_("Правило добавлено"), "ok")
    return redirect(url_for("admin.routing_page"), 303)


@bp.post("/routing/rules/<int:rule_id>")
def routing_rule_update(rule_id: int):
    _require_routing_admin()
    rule = routing_rules.get(rule_id)
    form = RoutingRuleForm(prefix=f"r{rule.id}")
    error, _notice = _save(form, lambda: routing_rules.update(current_user, rule, is_active=bool(form.is_active.data),
                                                              **_rule_values(form)))
    if error:
        return _routing_page(failed=(rule.id, form), status=422)
    flash(_("Правило сохранено"), "ok")
    return redirect(url_for("admin.routing_page"), 303)


@bp.post("/routing/rules/<int:rule_id>/active")
def routing_rule_active(rule_id: int):
    _require_routing_admin()
    rule = routing_rules.get(rule_id)
    form = RoutingActionForm()
    if not form.validate():
        abort(400)
    active = request.form.get("active") == "1"
    routing_rules.set_active(rule, active)
    db.session.commit()
    flash(_("Правило снова действует") if active else _("Правило выключено"), "ok")
    return redirect(url_for("admin.routing_page"), 303)


@bp.post("/routing/rules/<int:rule_id>/delete")
def routing_rule_delete(rule_id: int):
    _require_routing_admin()
    rule = routing_rules.get(rule_id)
    if not RoutingActionForm().validate():
        abort(400)
    routing_rules.delete(rule)
    db.session.commit()
    flash(_("Правило удалено"), "ok")
    return redirect(url_for("admin.routing_page"), 303)
