"""One helper for "full page or fragment" answers, and the small HTMX response vocabulary."""
from __future__ import annotations

import hashlib
from pathlib import Path

from flask import make_response, render_template, request, session
from flask_login import current_user

from app.extensions import htmx
from app.formatting import language


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


# --- HTTP caching of polled fragments (ETag / 304) -----------------------------------------------------
# A poll (hx-trigger="every …") asks again and again for a fragment that mostly has not changed. The view names,
# cheaply and BEFORE rendering, everything the answer depends on (its data's versions, ids, the filters); the ETag
# is a hash of that, the user's session identity, the locale, the URL and HX-Request. When the browser's copy
# has that ETag, the answer is a 304 with no body: no rendering at all.
#
# Caching: only answers without residents' personal data may be kept by the browser (`private, no-cache`: kept
# in this browser only, never by a shared cache, and revalidated on every poll); an answer that carries personal
# data stays `no-store` like every staff page (security.py), so it is never kept and never answered with a 304.
POLL_CACHE = "private, no-cache"


def etag_of(*parts) -> str:
    """A weak ETag from `parts` (reprs of plain values) plus who asks, in which language, for which URL."""
    who = current_user.get_id() if getattr(current_user, "is_authenticated", False) else "-"
    csrf = session_csrf()
    raw = repr((parts, who, csrf, language(), request.full_path, bool(request.headers.get("HX-Request")),
                build_stamp()))
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


_stamp: list[str] = []


def build_stamp() -> str:
    """A hash of the application's code, templates and catalogues (read once per process): a new release gives
    new ETags, so no browser keeps a fragment rendered by the old templates."""
    if not _stamp:
        root = Path(__file__).resolve().parent
        h = hashlib.blake2b(digest_size=16)
        for path in sorted(p for ext in ("*.py", "*.html", "*.mo") for p in root.rglob(ext)):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
        _stamp.append(h.hexdigest())
    return _stamp[0]


def session_csrf() -> str:
    """The session's CSRF secret (a fragment with a form carries a token derived from it)."""
    return str(session.get("csrf_token") or "")


def not_modified(etag: str):
    """A 304 for this ETag when the browser already holds it, else None."""
    if request.if_none_match.contains_weak(etag):  # weak comparison, as for GET
        resp = make_response("", 304)
        _poll_headers(resp, etag, cacheable=True)
        return resp
    return None


def poll_response(resp, etag: str, cacheable: bool):
    """Set a polled answer's caching headers (see above); returns `resp`."""
    resp = make_response(resp)
    _poll_headers(resp, etag, cacheable and resp.status_code == 200)
    return resp


def _poll_headers(resp, etag: str, cacheable: bool) -> None:
    vary = [v.strip() for v in resp.headers.get("Vary", "").split(",") if v.strip()]
    for v in ("Cookie", "HX-Request"):
        if v not in vary:
            vary.append(v)
    resp.headers["Vary"] = ", ".join(vary)
    if cacheable:
        resp.set_etag(etag, weak=True)
        resp.headers["Cache-Control"] = POLL_CACHE
    else:
        resp.headers["Cache-Control"] = "no-store"


def row_state(obj) -> tuple:
    """Every column value of an ORM row: what a fragment showing it depends on."""
    return tuple(getattr(obj, c.key) for c in obj.__mapper__.column_attrs) if obj is not None else ()
