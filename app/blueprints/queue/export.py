"""The XLSX answer for a ticket list with the queue's filters: the queue's export and the executor's
(/my/export.xlsx) share it. The workbook itself is services/exports.tickets_workbook."""
from __future__ import annotations

from flask import render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from app.blueprints.queue.forms import QueueFilterForm
from app.models import utcnow
from app.services import exports


def export_tickets(what: str, default_sort: str | None = None):
    """A bad filter gets the page's message and no file: an export must be exactly what was asked for."""
    form = QueueFilterForm(request.args)
    if not form.validate():
        return render_template("errors/error.html", status=422, title=_("Выгрузка не сформирована"),
                               message=_("Исправьте условия отбора: %(errors)s", errors=_labelled_errors(form))), 422
    f = form.to_filters()
    if default_sort and not request.args.get("sort"):
        f.sort = default_sort
    data, filename = exports.tickets_workbook(current_user, f, what, form.describe(), utcnow())
    return exports.xlsx_response(data, filename)


def _labelled_errors(form) -> str:
    return "; ".join(f"{form[name].label.text}: {e}" for name, errs in form.errors.items() for e in errs)
