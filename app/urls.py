"""URLs built outside a request too (jobs: the weekly digest, replies to residents).

PUBLIC_BASE_URL (e.g. https://om.belogorsk.ru) is the address residents and staff open the app at; inside a
request the request's own address is used."""
from __future__ import annotations

from urllib.parse import quote

from flask import current_app, has_request_context, url_for


def path_for(endpoint: str, **values) -> str:
    """The path of an endpoint (`/tickets/БЛГ-…`), in a request or not."""
    if has_request_context():
        return url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return url_for(endpoint, **values)


_MARKER = "0urlpattern0"
_PATH_SAFE = "!$&'()*+,/:;=@"  # werkzeug's converters (BaseConverter.to_url): a URL path segment's safe characters


def path_pattern(endpoint: str, name: str, **values):
    """`url_for(endpoint, name=value, **values)` for many values of one string argument of the path (rows of a
    list): the URL is built once, then each value is only quoted as werkzeug's default converter quotes it."""
    built = path_for(endpoint, **{name: _MARKER}, **values)
    head, marker, tail = built.partition(_MARKER)
    if not marker or _MARKER in tail:
        raise ValueError(f"{endpoint}: {name} is not one path segment")
    return lambda value: f"{head}{quote(str(value), safe=_PATH_SAFE)}{tail}"


def external_url(endpoint: str, **values) -> str:
    """An absolute URL when the app knows its address (a request, or PUBLIC_BASE_URL), else the path alone."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if base:
        with current_app.test_request_context("/", base_url=base):
            return url_for(endpoint, _external=True, **values)
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    return path_for(endpoint, **values)
