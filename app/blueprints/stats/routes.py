"""Open statistics of residents' appeals, without a login: /stats (?embed=1 without the app's header, for a
frame on the city site), /stats.csv and /stats.xlsx with the same filters. Counted figures only; the rules
and the caching are in app/services/openstats.py (the figures are the board's)."""
from __future__ import annotations

import json
import threading
from urllib.parse import quote

from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup

from app.formatting import fmt_value
from app.models import utcnow
from app.services import exports, openstats

bp = Blueprint("stats", __package__)

CSV_MIME = "text/csv; charset=utf-8"


def _busy(e: openstats.Busy, embed: bool = False):
    resp = make_response(render_template("stats/busy.html", message=e.message, embed=embed,
                                         title=_("Статистика временно недоступна")), 429)
    resp.headers["Retry-After"] = "60"
    return resp


def _charts(data: dict) -> dict:
    """Rows for the page's charts: received / resolved per month, answer time and on-time share per direction."""
    months = [{"label": f"{m['month'][5:7]}.{m['month'][:4]}", "received": m["received"], "resolved": m["resolved"]}
              for m in data["monthly"]]
    days = [{"name": d["name"], "value": round(d["mean_resolution_days"], 1),
             "text": fmt_value(d["mean_resolution_days"], "days")}
            for d in data["directions"] if d["mean_resolution_days"] is not None]
    on_time = [{"name": d["name"], "value": round(d["sla_share"] * 100),
                "text": f"{d['sla_share'] * 100:.0f} % ({d['on_time']} / {d['resolved']})"}
               for d in data["directions"] if d["sla_share"] is not None]
    return {"months": months, "days": days, "on_time": on_time}


TABLE = "stats/_figures_table.html"
# A figures table's HTML by everything it shows (its rows, caption, headers, targets, the language): a pure function
# of that key, so an entry never goes stale (changed figures are another key). Bounded.
_tables: dict[tuple, Markup] = {}
_tables_lock = threading.Lock()
MAX_TABLES = 256


def figures_table(rows: list, caption: str, label: str, ratings: bool, table_id: str, targets: dict) -> Markup:
    """stats/_figures_table.html for these values, rendered once per content in this process (≈ 60 rows of
    formatted figures a page)."""
    key = (str(get_locale() or ""), str(caption), str(label), bool(ratings), table_id,
           json.dumps([rows, targets], sort_keys=True, default=str))
    html = _tables.get(key)
    if html is None:
        html = Markup(current_app.jinja_env.get_template(TABLE).render(
            rows=rows, caption=caption, label=label, ratings=ratings, table_id=table_id, targets=targets))
        with _tables_lock:
            if len(_tables) >= MAX_TABLES:
                _tables.clear()
            _tables[key] = html
    return html


@bp.get("/stats")
def index():
    embed = request.args.get("embed") == "1"
    now = utcnow()
    filters = openstats.parse(request.args, now)
    try:
        data = openstats.city_stats(filters, now)
    except openstats.Busy as e:
        return _busy(e, embed)
    html = render_template("stats/embed.html" if embed else "stats/index.html", data=data, filters=filters,
                           period=filters.period, args=filters.args, errors=filters.errors, embed=embed,
                           charts=_charts(data), period_kinds=openstats.PERIOD_KINDS,
                           directions=openstats.direction_choices(), figures_table=figures_table)
    return make_response(html, 422 if filters.errors else 200)


def _download(kind: str):
    now = utcnow()
    filters = openstats.parse(request.args, now)
    if filters.errors:
        return make_response(render_template("stats/busy.html", message="; ".join(filters.errors), embed=False,
                                             title=_("Неверные параметры выгрузки")), 422)
    try:
        data = openstats.city_stats(filters, now)
    except openstats.Busy as e:
        return _busy(e)
    if kind == "xlsx":
        return exports.xlsx_response(openstats.xlsx_bytes(data, openstats.direction_name(filters.scope.direction_id)),
                                     openstats.filename(data, "xlsx"))
    resp = Response(openstats.csv_bytes(data), mimetype=CSV_MIME)
    name = openstats.filename(data, "csv")
    fallback = exports.ascii_filename(name.removesuffix(".csv") + ".xlsx").removesuffix(".xlsx") + ".csv"
    resp.headers["Content-Disposition"] = (f"attachment; filename=\"{fallback}\"; "
                                           f"filename*=UTF-8''{quote(name, safe='')}")
    return resp


@bp.get("/stats.csv")
def download_csv():
    return _download("csv")


@bp.get("/stats.xlsx")
def download_xlsx():
    return _download("xlsx")
