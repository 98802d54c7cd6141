"""URLs built outside a request too (jobs: the weekly digest, replies to residents).

PUBLIC_BASE_URL (e.g. https://om.belogorsk.ru) is the address residents and staff open the app at; inside a
request the request's own address is used."""
from __future__ import annotations

from flask import current_app, has_request_context, url_for


def path_for(endpoint: str, **values) -> str:
    """The path of an endpoint (`/tickets/БЛГ-…`), in a request or not."""
    if has_request_context():
        return url_for(endpoint, **values)
    with current_app.test_request_context("/"):
        return url_for(endpoint, **values)


def external_url(endpoint: str, **values) -> str:
    """An absolute URL when the app knows its address (a request, or PUBLIC_BASE_URL), else the path alone."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if base:
        with current_app.test_request_context("/", base_url=base):
            return url_for(endpoint, _external=True, **values)
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    return path_for(endpoint, **values)
