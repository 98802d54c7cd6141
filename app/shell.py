"""The page shell every page of base.html pays for: its fixed URLs and the top bar's navigation, built once.

The navigation is a pure function of what the viewer may open (the `access` answers, computed per request: the
rules stay in app/services/access.py), the interface language (the catalogue), the script root, the city's name
and the template's source. The URL map cannot change once the app serves requests and a catalogue is one object
per locale and process, so a memo kept on the catalogue object (as formatting.translate does) and keyed by the
rest (and by `?embed=1`, which the public blueprint's url_defaults add to its links) cannot go stale; nothing in
it is data. With template auto-reload on (debug) it is rebuilt on every request.
"""
from __future__ import annotations

from flask import current_app, has_request_context, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.local import LocalProxy

from app.formatting import catalogue_memo
from app.models import ROLE_LABELS
from app.security import embed_requested
from app.services import access

_MEMO_ATTR = "_om_shell"
_MEMO_MAX = 256  # bound: (flags × script roots × city names) is small; never grow without end

# the top bar's links, in base.html's order: what the viewer may open decides which appear
NAV_RULES = (
    ("board", access.can_see_board),
    ("rating", access.can_view_rating),
    ("queue", access.can_see_queue),
    ("noise", access.can_manage),
    ("admin", lambda user: user.role == "admin"),
    ("my", lambda user: user.role == "executor"),
    ("orders", access.can_see_orders),
    ("participants", access.can_see_participants),
    ("publishing", access.can_publish),
    ("lookup", access.sees_tickets),
)


class Shell:
    """What base.html draws the same for every viewer with the same rights: fixed URLs and the top bar's links."""

    __slots__ = ("urls", "text", "nav")

    def __init__(self, urls: dict[str, str], text: dict[str, str], nav: Markup):
        self.urls = urls
        self.text = text  # the top bar's fixed words, translated
        self.nav = nav


def _flags(user) -> tuple:
    """(signed in, the viewer's role, each NAV_RULES answer): what the kept shell depends on."""
    if user is None or not getattr(user, "is_authenticated", False):
        return (False, None)
    return (True, user.role, *(bool(rule(user)) for _name, rule in NAV_RULES))


def _build(flags: tuple, city_name: str) -> Shell:
    urls = {
        "favicon": url_for("static", filename="favicon.svg"),
        "app_css": url_for("static", filename="app.css"),
        "control_css": url_for("static", filename="control.css"),
        "htmx_js": url_for("static", filename="vendor/htmx-2.0.11.min.js"),
        "app_js": url_for("static", filename="app.js"),
        "notifications": url_for("notifications.index"),
        "password": url_for("auth.change_password"),
        "logout": url_for("auth.logout"),
    }
    text = {"notifications": _("Уведомления"), "password": _("Пароль"), "logout": _("Выйти"),
            "role": str(ROLE_LABELS.get(flags[1], flags[1] or ""))}  # as User.role_label
    can = dict(zip((name for name, _rule in NAV_RULES), flags[2:], strict=True)) if flags[0] else {}
    nav = render_template("_shell/nav.html", authenticated=flags[0], can=can, shell_city_name=city_name)
    return Shell(urls, text, Markup(nav))


def page_shell(user) -> Shell:
    """The shell for this viewer (base.html: `{% set shell = page_shell(current_user) %}`)."""
    city_name = current_app.config["CITY_NAME"]
    # current_user is a proxy: each attribute the rules read would look the user up again (≈ 3 µs a time)
    flags = _flags(user._get_current_object() if isinstance(user, LocalProxy) else user)
    if current_app.jinja_env.auto_reload or not has_request_context():  # debug server's templates change: not kept
        return _build(flags, city_name)
    memo = catalogue_memo(_MEMO_ATTR)
    # `?embed=1` on a public page: the public blueprint's url_defaults add it to its links (the brand's)
    key = (request.script_root, city_name, embed_requested(), flags)
    shell = memo.get(key)
    if shell is None:
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        shell = memo[key] = _build(flags, city_name)
    return shell
