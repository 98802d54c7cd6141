"""A select field whose choices and <option> HTML are built once per reference data version and locale
(app/services/refdata.py) instead of on every request: the queue's filter form and the ticket forms have lists
of ~140 institutions and their rubrics, which cost more to build and render than the rest of the page.

Renders exactly what wtforms' SelectField renders (the options are rendered by its own Select.render_option);
validation accepts exactly the same values.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup
from wtforms import SelectField
from wtforms.fields.choices import Choice
from wtforms.widgets import Select, html_params

from app.services import refdata


@dataclass(frozen=True)
class Options:
    choices: list[tuple[str, str]]  # (value, label) as wtforms takes them
    html: str  # every <option>, none selected
    plain: dict  # coerced value → its <option> as in `html`
    chosen: dict  # coerced value → the same <option> selected

    @classmethod
    def build(cls, choices: Sequence[tuple], coerce: Callable) -> Options:
        choices = [(str(v), str(label)) for v, label in choices]
        plain, chosen, parts = {}, {}, []
        for value, label in choices:
            option = Select.render_option(Choice(value=value, label=label, selected=False, render_kw={}))
            parts.append(option)
            try:
                key = coerce(value)
            except (ValueError, TypeError):
                continue  # wtforms would never select it either
            if key not in plain:
                plain[key] = str(option)
                chosen[key] = str(Select.render_option(Choice(value=value, label=label, selected=True, render_kw={})))
        return cls(choices, "".join(parts), plain, chosen)

    def render(self, data) -> str:
        try:
            plain = self.plain.get(data)
        except TypeError:  # unhashable data: nothing selected
            return self.html
        if plain is None:
            return self.html
        return self.html.replace(plain, self.chosen[data], 1)


class CachedSelectWidget(Select):
    def __call__(self, field, **kwargs):
        options = getattr(field, "options", None)
        if options is None:
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for k in dir(flags):
            if k in self.validation_attrs and k not in kwargs:
                kwargs[k] = getattr(flags, k)
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{options.render(field.data)}</select>")


class CachedSelectField(SelectField):
    """SelectField + `use(key, build)`: choices from `build()` (a list of (value, label)), memoised under
    (key, reference data version, locale). `build` must depend only on the reference data and the locale."""
    widget = CachedSelectWidget()
    options: Options | None = None

    def use(self, key: tuple, build: Callable[[], Sequence[tuple]]) -> None:
        coerce = self.coerce
        self.options = refdata.memo(("select",) + key, lambda: Options.build(build(), coerce))
        self.choices = self.options.choices

    def pre_validate(self, form):
        if self.options is None or self.process_errors or not self.validate_choice:
            return super().pre_validate(form)
        try:
            ok = self.data in self.options.plain
        except TypeError:
            ok = False
        if not ok:
            super().pre_validate(form)  # wtforms' own check and message (an invalid value: the rare path)
