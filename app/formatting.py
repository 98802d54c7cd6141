"""City-time dates, Russian plurals and board figures as text: used by services, views and templates alike.

It imports nothing from the application, so any module may import it (templating registers these as Jinja
filters; services write the same text into messages, workbooks and the digest).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import flask_babel
from flask import current_app, has_request_context, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel.speaklater import LazyString

_LANG_KEY, _MEMO_ATTR = "om.translations.lang", "_om_memo"
_CAT_KEY = "om.translations.catalogue."


def translate(string: str) -> str:
    """The catalogue's translation of `string` for this request (as Flask-Babel's gettext without variables).

    Flask-Babel looks the request's locale and catalogue up again on every call (~10 µs); here the lookup is
    memoised in a dict kept on Flask-Babel's own catalogue object (one per locale and process, dropped with it
    when its cache is cleared), found once per request: ~1 µs a call, for strings translated in loops (the
    queue's rows, the ticket's timeline). Same text."""
    if not has_request_context():
        return flask_babel.get_translations().ugettext(string)
    memo = catalogue_memo(_MEMO_ATTR)
    text = memo.get(string)
    if text is None:
        text = memo[string] = flask_babel.get_translations().ugettext(string)
    return text


def catalogue_memo(attr: str) -> dict:
    """A dict kept on this request's catalogue object (one per locale and process, dropped with it when Flask-Babel's
    cache is cleared), found once per request: for memos of rendered text that depend on the language only."""
    if not has_request_context():
        return flask_babel.get_translations().__dict__.setdefault(attr, {})
    env = request.environ
    key = _CAT_KEY + attr
    memo = env.get(key)
    if memo is None:
        memo = env[key] = flask_babel.get_translations().__dict__.setdefault(attr, {})
    return memo


def gettext(string: str, **variables) -> str:
    """flask_babel.gettext through `translate` (same result, cheaper in loops)."""
    text = translate(string)
    return text % variables if variables else text


def _text(value):
    """A lazy_gettext string translated through `translate` (the same text as str(value)); other values as they
    are."""
    if isinstance(value, LazyString) and value._func is flask_babel.gettext and len(value._args) == 1 \
            and not value._kwargs:
        return translate(value._args[0])
    return value


class Labels(Mapping):
    """A read-only view of a dict of lazy_gettext labels (STATUS_LABELS…) whose values come out translated through
    `translate`: the same text as str(lazy label), cheaper for a label in every row of a list."""

    def __init__(self, labels: Mapping):
        self._labels = labels

    def __getitem__(self, key):
        return _text(self._labels[key])

    def __iter__(self):
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)


def language() -> str:
    """The request's language ("ru", "en"), looked up once per request."""
    if not has_request_context():
        return str(get_locale() or "ru").split("_")[0]
    lang = request.environ.get(_LANG_KEY)
    if lang is None:
        lang = request.environ[_LANG_KEY] = str(get_locale() or "ru").split("_")[0]
    return lang


def local_dt(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """A UTC moment in the city's time zone (CITY_TZ); «—» for None."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(current_app.config["CITY_TZ"])).strftime(fmt)


def plural_forms(n: int, forms: tuple) -> str:
    """plural_ru of three lazy_gettext forms, translating the chosen one only (the same text as
    plural_ru(n, str(one), str(few), str(many)), for a countdown in every row of a list)."""
    return str(_text(plural_ru(n, *forms)))


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """Russian plural of three (translated) forms; other languages use one / many."""
    n = abs(int(n))
    if language() != "ru":
        return one if n == 1 else many
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def fmt_value(value, kind: str) -> str:
    """A board figure as the page, the export and the digest show it (kind: int | pct | days | rating |
    duration — seconds)."""
    if value is None:
        return "—"
    if kind == "pct":
        return f"{value * 100:.0f} %"
    if kind == "days":
        return _("%(n)s дн.", n=f"{value:.1f}".replace(".", ","))
    if kind == "rating":
        return f"{value:.1f}".replace(".", ",")
    if kind == "duration":
        minutes = int(round(value / 60))
        days, rest = divmod(minutes, 1440)
        hours, mins = divmod(rest, 60)
        if days:
            return _("%(d)s дн. %(h)s ч", d=days, h=hours)
        if hours:
            return _("%(h)s ч %(m)s мин", h=hours, m=mins)
        return _("%(m)s мин", m=mins)
    return f"{int(value):,}".replace(",", "\u202f")


def board_time(value: str) -> str:
    """An ISO moment stored in a board report (snapshots keep JSON) in city time."""
    return local_dt(datetime.fromisoformat(value), "%d.%m.%Y %H:%M")
