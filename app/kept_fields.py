"""The ticket panel's form fields, rendered by wtforms once and then kept, instead of on every request.

The ticket page shows up to ten small forms (status, priority, reply, note, merge…); rendering their ~25 fields
through wtforms' widgets (html_params, escaping) was a quarter of the page's CPU. A field of a form built without
submitted data (formdata=None) renders the same HTML for the same form class, field, data (a ticket's version,
its priority) and language, so that HTML is kept per language (formatting.catalogue_memo: one dict per locale and
process). Nothing from the database is in it except the field's own data, which is part of the key, so it cannot
go stale. A field with errors or submitted data, or whose choices come from the reference data
(CachedSelectField, already kept per data version), is rendered as before.

`kept_hidden(form)`: FlaskForm.hidden_tag(), once per request for the forms whose only hidden field is the CSRF
token (the same token in every form of a request).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g
from markupsafe import Markup
from wtforms.csrf.core import CSRFTokenField
from wtforms.widgets import HiddenInput

from app.cached_select import CachedSelectField
from app.formatting import catalogue_memo

_MEMO = "_om_kept_fields"
_MAX = 4096  # keys are (form class, field, data, arguments): a few hundred in practice; a bound all the same


class StaticForm:
    """Marks a form class whose fields' HTML depends only on the class, the field's data and the language (no
    choices or labels computed per request): its fields may be kept."""
    KEPT_FIELDS = True


def _keepable(f) -> bool:
    return (getattr(getattr(f, "_form", None), "KEPT_FIELDS", False) and not f.errors and f.raw_data is None
            and not isinstance(f, CachedSelectField))


def _kept(key: tuple, render: Callable[[], Markup]) -> Markup:
    try:
        hash(key)
    except TypeError:  # data or an argument that is not hashable: not kept
        return render()
    memo = catalogue_memo(_MEMO)
    html = memo.get(key)
    if html is None:
        if len(memo) >= _MAX:
            memo.clear()
        html = memo[key] = Markup(render())
    return html


def _field_macro():
    return current_app.jinja_env.get_template("_macros/forms.html").module.field


def kept_field(f, label=True, **kwargs) -> Markup:
    """{{ field(f, …) }} of _macros/forms.html (the same HTML), kept for a field of a StaticForm."""
    macro = _field_macro()
    if not _keepable(f):
        return macro(f, label=label, **kwargs)
    key = ("field", type(f._form), f.name, f.id, f.data, label, tuple(sorted(kwargs.items())))
    return _kept(key, lambda: macro(f, label=label, **kwargs))


def kept_input(f, **kwargs) -> Markup:
    """{{ f(**kwargs) }} (the widget alone, e.g. the hidden version), kept for a field of a StaticForm."""
    if not _keepable(f):
        return f(**kwargs)
    key = ("input", type(f._form), f.name, f.id, f.data, tuple(sorted(kwargs.items())))
    return _kept(key, lambda: f(**kwargs))


def kept_hidden(form) -> Markup:
    """form.hidden_tag(), once per request when the CSRF token is the form's only hidden field."""
    hidden = [f for f in form if isinstance(f.widget, HiddenInput)]
    if not hidden or not all(isinstance(f, CSRFTokenField) for f in hidden):
        return form.hidden_tag()
    key = tuple((f.name, f.id) for f in hidden)
    memo = g.setdefault("_om_kept_hidden", {})
    html = memo.get(key)
    if html is None:
        html = memo[key] = form.hidden_tag()
    return html
