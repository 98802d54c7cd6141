"""URLs built outside a request too (jobs: the weekly digest, replies to residents).

PUBLIC_BASE_URL (e.g. https://om.belogorsk.ru) is the address residents and staff open the app at; inside a
request the request's own address is used."""
from __future__ import annotations

from flask import current_app, has_request_context, request, url_for


def path_for(endpoint: str, **values) -> str:
    """The path of an endpoint (`/tickets/БЛГ-…`), in a request or not."""
    if has_request_context():
        return url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return url_for(endpoint, **values)


def path_pattern(endpoint: str, name: str):
    """A function value -> `url_for(endpoint, name=value)` for the rows of a list (in a request): see
    `one_value_url`, the one place such URLs are built."""
    return lambda value: one_value_url(endpoint, name, value)


def external_url(endpoint: str, **values) -> str:
    """An absolute URL when the app knows its address (a request, or PUBLIC_BASE_URL), else the path alone."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if base:
        with current_app.test_request_context("/", base_url=base):
            return url_for(endpoint, _external=True, **values)
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    return path_for(endpoint, **values)


_PATTERN_KEY = "om.urls.patterns"
_PLACEHOLDER = "\x00"  # never in a real value; the converter writes it as %00


def one_value_url(endpoint: str, name: str, value) -> str:
    """url_for(endpoint, **{name: value}) for an endpoint with one variable (a ticket's page in every row of a
    list): the rule is built once per request with a placeholder, then each value is written into it by the same
    converter url_for uses. Same URL, without url_for's per-call cost."""
    patterns = request.environ.setdefault(_PATTERN_KEY, {})
    pattern = patterns.get((endpoint, name))
    if pattern is None:
        built = url_for(endpoint, **{name: _PLACEHOLDER})
        converter = _converter(endpoint, name)
        mark = converter.to_url(_PLACEHOLDER)
        if built.count(mark) != 1:  # not a plain one-variable path: no shortcut
            return url_for(endpoint, **{name: value})
        pattern = patterns[(endpoint, name)] = (*built.split(mark), converter.to_url)
    prefix, suffix, to_url = pattern
    return prefix + to_url(value) + suffix


def _converter(endpoint: str, name: str):
    for rule in current_app.url_map.iter_rules(endpoint):
        return rule._converters[name]
    raise LookupError(endpoint)


def ticket_url(number: str) -> str:
    """The ticket's page, /tickets/<number> (templates: a link in every queue row)."""
    return one_value_url("tickets.detail", "number", number)
