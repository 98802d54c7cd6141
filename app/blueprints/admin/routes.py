from flask import abort, render_template, request, url_for
from flask_login import current_user, login_required

from app.blueprints.admin import bp
from app.blueprints.admin.forms import CategoryRulesForm
from app.extensions import db
from app.htmx import form_errors, render
from app.models import Category
from app.services import admin, tickets
from app.services.errors import DomainError


@bp.before_request
@login_required
def require_admin():
    if current_user.role != "admin":
        abort(403)


@bp.get("")
def index():
    return render_template("admin/index.html", networks=admin.network_statuses(),
                           rejections=admin.recent_rejections(20),
                           hook_base=request.url_root.rstrip("/") + url_for("webhooks.hook", network="x")[:-1])


@bp.get("/rejections")
def rejections():
    return render_template("admin/rejections.html", rejections=admin.recent_rejections(200))


@bp.get("/categories")
def categories():
    rows = [(c, CategoryRulesForm(keywords=c.keywords, default_institution_id=c.default_institution_id,
                                  formdata=None, prefix=f"c{c.id}")) for c in admin.categories()]
    return render_template("admin/categories.html", rows=rows)


@bp.post("/categories/<int:category_id>")
def update_category(category_id: int):
    category = tickets.require(Category, category_id, "Рубрика не найдена")
    form = CategoryRulesForm(prefix=f"c{category.id}")
    error, notice = None, None
    if form.validate():
        try:
            admin.update_category_rules(current_user, category, form.keywords.data or "",
                                        form.default_institution_id.data)
            db.session.commit()
            notice = "Сохранено"
        except DomainError as exc:
            db.session.rollback()
            error = exc.message
    else:
        error = form_errors(form)
    return render("admin/categories.html", "admin/_category.html", status=422 if error else 200,
                  c=category, form=form, error=error, notice=notice,
                  rows=[(category, form)])
