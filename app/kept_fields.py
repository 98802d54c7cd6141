"""The ticket panel's form fields, rendered by wtforms once and then kept, instead of on every request.

The ticket page shows up to ten small forms (status, priority, reply, note, merge…); rendering their ~25 fields
through wtforms' widgets (html_params, escaping) was a quarter of the page's CPU. A field of a form built without
submitted data (formdata=None) renders the same HTML for the same form class, field, data (a ticket's version,
its priority) and language, so that HTML is kept per language (formatting.catalogue_memo: one dict per locale and
process). Nothing from the database is in it except the field's own data, which is part of the key, so it cannot
go stale. A field whose choices come from the reference data (CachedSelectField) is kept under that data's
version too (refdata.version(): a change of the data is a new key). A field with errors or submitted data is
rendered as before.

`kept_hidden(form)`: FlaskForm.hidden_tag(), once per request for the forms whose only hidden field is the CSRF
token (the same token in every form of a request); for a KeptForm the class's markup around the request's token,
without building the form.

`KeptForm(FormClass, **data)`: such a form not built yet (a view passes it to the template instead of
`FormClass(formdata=None, **data)`); its fields' kept HTML is found by (class, data, field), and the form is built
only when a field is not kept yet or anything else is asked of it.
"""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from wtforms.csrf.core import CSRFTokenField
from wtforms.fields.core import UnboundField
from wtforms.widgets import HiddenInput

from app.cached_select import CachedSelectField
from app.formatting import catalogue_memo
from app.services import refdata

_MEMO = "_om_kept_fields"
_MAX = 4096  # keys are (form class, field, data, arguments): a few hundred in practice; a bound all the same


class StaticForm:
    """Marks a form class whose fields' HTML depends only on the class, the field's data and the language (no
    choices or labels computed per request): its fields may be kept."""
    KEPT_FIELDS = True


def _keepable(f, versioned: bool = False) -> bool:
    """`versioned`: the key has the reference data version (a CachedSelectField may be kept then)."""
    return (getattr(getattr(f, "_form", None), "KEPT_FIELDS", False) and not f.errors and f.raw_data is None
            and (versioned or not isinstance(f, CachedSelectField)))


def _lookup(key: tuple) -> Markup | None:
    try:
        return catalogue_memo(_MEMO).get(key)
    except TypeError:  # data that is not hashable
        return None


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


class KeptForm:
    """A StaticForm built lazily (see the module's docstring); attributes other than its fields are the form's."""
    __slots__ = ("cls", "data", "_form")

    def __init__(self, cls, **data):
        self.cls, self.data, self._form = cls, data, None

    @property
    def form(self):
        if self._form is None:
            self._form = self.cls(formdata=None, **self.data)
        return self._form

    def __getattr__(self, name):
        if isinstance(getattr(self.cls, name, None), UnboundField):
            return _FieldRef(self, name)
        return getattr(self.form, name)

    def __iter__(self):
        return iter(self.form)


def _reference_keyed(cls, name: str) -> bool:
    """Whether the class's field `name` is a CachedSelectField (its options come from the reference data)."""
    unbound = getattr(cls, name, None)
    return isinstance(unbound, UnboundField) and issubclass(unbound.field_class, CachedSelectField)


class _FieldRef:
    """A field of a KeptForm, named but not built."""
    __slots__ = ("owner", "name")

    def __init__(self, owner: KeptForm, name: str):
        self.owner, self.name = owner, name

    def key(self) -> tuple | None:
        # built without form data, a field's data is its own argument or its default: nothing else goes in — but
        # the options of a CachedSelectField, which are the reference data's: its key has that data's version
        # (refdata.version(), bumped by the database on every change of it: a new version is a new key). None: not
        # kept (no version yet, or this transaction wrote and may read its own uncommitted reference data).
        data = self.owner.data
        key = (self.owner.cls, self.name, self.name in data, data.get(self.name))
        if _reference_keyed(self.owner.cls, self.name):
            version = refdata.version()
            if version < 0 or refdata.written():
                return None
            key += (version,)
        return key

    @property
    def field(self):
        return getattr(self.owner.form, self.name)


def kept_field(f, label=True, **kwargs) -> Markup:
    """{{ field(f, …) }} of _macros/forms.html (the same HTML), kept for a field of a StaticForm."""
    macro = _field_macro()
    if isinstance(f, _FieldRef):
        ref_key = f.key()
        if ref_key is None:
            return macro(f.field, label=label, **kwargs)
        key = ("ref-field", *ref_key, label, tuple(sorted(kwargs.items())))
        html = _lookup(key)
        if html is not None:
            return html
        field = f.field
        if not _keepable(field, len(ref_key) > 4):
            return macro(field, label=label, **kwargs)
        return _kept(key, lambda: macro(field, label=label, **kwargs))
    if not _keepable(f):
        return macro(f, label=label, **kwargs)
    key = ("field", type(f._form), f.name, f.id, f.data, label, tuple(sorted(kwargs.items())))
    return _kept(key, lambda: macro(f, label=label, **kwargs))


def kept_input(f, **kwargs) -> Markup:
    """{{ f(**kwargs) }} (the widget alone, e.g. the hidden version), kept for a field of a StaticForm."""
    if isinstance(f, _FieldRef):
        ref_key = f.key()
        if ref_key is None:
            return f.field(**kwargs)
        key = ("ref-input", *ref_key, tuple(sorted(kwargs.items())))
        html = _lookup(key)
        if html is not None:
            return html
        field = f.field
        if not _keepable(field, len(ref_key) > 4):
            return field(**kwargs)
        return _kept(key, lambda: field(**kwargs))
    if not _keepable(f):
        return f(**kwargs)
    key = ("input", type(f._form), f.name, f.id, f.data, tuple(sorted(kwargs.items())))
    return _kept(key, lambda: f(**kwargs))


_SIGNATURES: dict = {}  # (form class, CSRF on, its field name) → its hidden fields' (name, id), if the CSRF token alone


def _signature(form) -> tuple | None:
    hidden = [f for f in form if isinstance(f.widget, HiddenInput)]
    if not hidden or not all(isinstance(f, CSRFTokenField) for f in hidden):
        return None
    return tuple((f.name, f.id) for f in hidden)


# signature → hidden_tag()'s HTML with the token cut out (before, after): the markup around the token is the
# class's, the token the request's (flask_wtf.csrf.generate_csrf, kept in `g` for the request — the same value the
# form's CSRF field and the templates' csrf_token() give)
_HIDDEN_AROUND: dict = {}


def _hidden_of(form, sig: tuple) -> Markup:
    """form.hidden_tag() of a form whose only hidden field is the CSRF token, noting the markup around the token."""
    html = form.hidden_tag()
    token = getattr(form[sig[0][0]], "current_token", None) if len(sig) == 1 else None
    if token and str(html).count(str(escape(token))) == 1:
        before, after = str(html).split(str(escape(token)))
        _HIDDEN_AROUND[sig] = (before, after)
    return html


def kept_hidden(form) -> Markup:
    """form.hidden_tag(), once per request when the CSRF token is the form's only hidden field (and for a KeptForm
    without building the form: the class's markup around this request's token)."""
    memo = g.setdefault("_om_kept_hidden", {})
    if isinstance(form, KeptForm):
        config = current_app.config
        cls_key = (form.cls, config.get("WTF_CSRF_ENABLED", True), config.get("WTF_CSRF_FIELD_NAME", "csrf_token"))
        if cls_key not in _SIGNATURES:  # what the class declares, not data: computed once per process
            _SIGNATURES[cls_key] = _signature(form.form)
        sig = _SIGNATURES[cls_key]
        if sig is not None:
            html = memo.get(sig)
            if html is None:
                around = _HIDDEN_AROUND.get(sig)
                html = memo[sig] = (Markup(around[0] + str(escape(generate_csrf())) + around[1])
                                    if around is not None else _hidden_of(form.form, sig))
            return html
        form = form.form
    sig = _signature(form)
    if sig is None:
        return form.hidden_tag()
    html = memo.get(sig)
    if html is None:
        html = memo[sig] = _hidden_of(form, sig)
    return html
