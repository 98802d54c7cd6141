"""One helper for "full page or fragment" answers, and the small HTMX response vocabulary."""
from __future__ import annotations

from flask import make_response, render_template

from app.extensions import htmx


def wants_fragment() -> bool:
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(page_template: str, fragment_template: str, status: int = 200, **context):
    """The fragment for an HTMX request, the whole page otherwise; varies on HX-Request."""
    resp = make_response(render_template(fragment_template if wants_fragment() else page_template, **context), status)
    resp.headers["Vary"] = "HX-Request"
    return resp


MAX_ID = 2**31 - 1  # database integer ids


def parse_id(value) -> int | None:
    """A database id from user input, or None (empty, not a number, out of range)."""
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return n if 0 <= n <= MAX_ID else None


def form_errors(form) -> str:
    """All of a form's error messages as one line (they may be lazy strings)."""
    return "; ".join(str(e) for errs in form.errors.values() for e in errs)
