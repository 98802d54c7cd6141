"""What every request and the start-up check: the secret key, security headers, database-sized URL ids.

See docs/security.md for the whole picture (what is protected and how, what a deployer sets)."""
from __future__ import annotations

import logging
import os
import re
import secrets
import sys

from flask import Flask, current_app, has_request_context, request, session
from werkzeug.routing import IntegerConverter

MIN_KEY_LENGTH = 32
# Keys that were ever published (the old development default, the test suite's keys in this repository):
# never accepted, whatever their length.
PUBLIC_KEYS = frozenset({"dev-only-change-me", "test-only-secret-key-0123456789abcdef",
                         "worker-test-secret-key-0123456789abcdef"})
PG_INT_MAX = 2**31 - 1  # PostgreSQL `integer`: every id column


class InsecureConfig(RuntimeError):
    """The app must not start with this configuration."""


def key_problem(key) -> str | None:
    """Why this SECRET_KEY cannot sign sessions and residents' links, or None when it can."""
    if not key:
        return "SECRET_KEY не задан"
    if not isinstance(key, str | bytes):
        return "SECRET_KEY должен быть строкой"
    if key in PUBLIC_KEYS:
        return "SECRET_KEY равен общеизвестному значению для разработки"
    if len(key.strip()) < MIN_KEY_LENGTH:  # blanks around a short key (or only blanks) are no key
        return f"SECRET_KEY короче {MIN_KEY_LENGTH} символов"
    return None


def ensure_secret_key(app: Flask) -> None:
    """Outside debug and the tests, refuse to start without a real key (sessions and residents' verdict links
    are signed with it: a known key lets anyone sign `{"_user_id": "1"}`)."""
    problem = key_problem(app.config.get("SECRET_KEY"))
    if problem is None or (app.testing and app.config.get("SECRET_KEY")):
        return
    if os.environ.get("FLASK_RUN_FROM_CLI") == "true" and "check-config" in sys.argv[1:]:
        return  # `flask check-config` lists the missing key with the rest (and exits 1); it serves nothing
    if app.debug:
        app.config["SECRET_KEY"] = secrets.token_urlsafe(48)  # this process only: sessions end on restart
        app.logger.warning("%s: debug mode signs sessions with a random key of this process", problem)
        return
    raise InsecureConfig(
        f"{problem}. Задайте переменную окружения SECRET_KEY — случайную строку не короче {MIN_KEY_LENGTH} "
        "символов, одинаковую на всех машинах (веб и обработчики), например: "
        "python -c 'import secrets; print(secrets.token_urlsafe(48))'. "
        "`make run` (демо) создаёт её сам в instance/secret_key. "
        f"(SECRET_KEY is missing or weak: set SECRET_KEY to a random string of at least {MIN_KEY_LENGTH} characters.)"
    )


# --- ids in URLs ----------------------------------------------------------------------------------------
class DbIntConverter(IntegerConverter):
    """`<int:…>` bounded to PostgreSQL `integer`: /control/99999999999 is a 404, not a database error."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", PG_INT_MAX)
        super().__init__(map, *args, **kwargs)


# --- headers --------------------------------------------------------------------------------------------
# An origin as CSP's frame-ancestors takes it: scheme, host (a leading «*.» for subdomains), an optional port.
# Anything else («https://x.ru; script-src *», «https://*», a path) would change the policy itself: dropped.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_ORIGIN = re.compile(rf"https?://(\*\.)?{_LABEL}(?:\.{_LABEL})*(:\d{{1,5}})?", re.IGNORECASE)


def embed_origins(app: Flask) -> list[str]:
    raw = app.config.get("EMBED_ALLOWED_ORIGINS") or ""
    return [o.rstrip("/") for o in raw.replace(",", " ").split() if _ORIGIN.fullmatch(o.rstrip("/"))]


def content_security_policy(frame_ancestors: str) -> str:
    """Scripts and styles only from the app itself: no inline script, no style attributes, no eval."""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "media-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
            f"form-action 'self'; frame-ancestors {frame_ancestors}")


# A resident's file opened in the browser: nothing in it may run or load anything.
FILE_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox"


# The public pages a city site may frame: the appeal form and status page, the participants' directory, open
# statistics, QR codes. Never a staff page.
EMBEDDABLE_BLUEPRINTS = frozenset({"public", "participants", "stats", "qr"})


def _embeddable() -> bool:
    return request.blueprint in EMBEDDABLE_BLUEPRINTS


def embed_requested() -> bool:
    """`?embed=1` on an embeddable page: the page without the app's header (base.html), for a frame."""
    return has_request_context() and request.args.get("embed") == "1" and _embeddable()


_CSP_NO_FRAMES = content_security_policy("'none'")  # every page but the embeddable ones: the same text each time
_PERMISSIONS = "camera=(), microphone=(), geolocation=()"


def set_security_headers(response):
    """The headers every answer gets unless its view set them itself (one pass over the answer's header names,
    then appends: each request pays for this)."""
    origins = embed_origins(current_app) if _embeddable() else []
    headers = response.headers
    present = {name.lower() for name in headers.keys()}
    add = headers.add
    if "content-security-policy" not in present:
        add("Content-Security-Policy", content_security_policy(" ".join(["'self'", *origins])) if origins
            else _CSP_NO_FRAMES)
    if not origins and "x-frame-options" not in present:
        add("X-Frame-Options", "DENY")
    if "x-content-type-options" in present:
        headers["X-Content-Type-Options"] = "nosniff"
    else:
        add("X-Content-Type-Options", "nosniff")
    if "referrer-policy" not in present:
        add("Referrer-Policy", "same-origin")
    if "cross-origin-opener-policy" not in present:
        add("Cross-Origin-Opener-Policy", "same-origin")
    if "permissions-policy" not in present:
        add("Permissions-Policy", _PERMISSIONS)
    if current_app.config.get("SESSION_COOKIE_SECURE") and "strict-transport-security" not in present:
        add("Strict-Transport-Security", "max-age=31536000")
    if response.mimetype == "text/html" and "_user_id" in session and "cache-control" not in present:
        add("Cache-Control", "no-store")  # staff pages hold residents' personal data: no copies on the way
    return response


# --- secrets in logs -------------------------------------------------------------------------------------
# httpx (and python-telegram-bot through it) logs every request's URL at INFO; the Bot API's URL carries the bot
# token (/bot<token>/getChat, /file/bot<token>/…). A deployment that turns INFO on must not write it out.
URL_LOGGERS = ("httpx", "httpcore")


def quiet_url_loggers() -> None:
    for name in URL_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)


def register(app: Flask) -> None:
    app.after_request(set_security_headers)
