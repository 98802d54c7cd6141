"""City-time dates, Russian plurals and board figures as text: used by services, views and templates alike.

It imports nothing from the application, so any module may import it (templating registers these as Jinja
filters; services write the same text into messages, workbooks and the digest).
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _


def local_dt(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """A UTC moment in the city's time zone (CITY_TZ); «—» for None."""
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(current_app.config["CITY_TZ"])).strftime(fmt)


def plural_ru(n: int, one: str, few: str, many: str) -> str:
    """Russian plural of three (translated) forms; other languages use one / many."""
    n = abs(int(n))
    if str(get_locale() or "ru").split("_")[0] != "ru":
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
