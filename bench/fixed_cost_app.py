"""The application with three bench-only views added (never part of the app): what every staff page pays
before its own content, served by gunicorn for bench/fixed_cost.py.

* `/__bench/bare`  — 20 KB of text, no login: the app's request hooks, session and headers only
  (`/__bench/select1` the same with `SELECT 1`);
* `/__bench/login` — the same behind `login_required`: + the session cookie's user, loaded and checked;
* `/__bench/shell` — `login_required` rendering base.html with an empty content block: + the top bar, CSRF token,
  flashes, the unread count — the fixed part of every staff page.

`APP_DIR` (environment) names the checkout whose `app` is served (a `git archive` of an older commit for
before/after figures); default this one.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

APP_DIR = Path(os.environ.get("APP_DIR") or Path(__file__).resolve().parent.parent).resolve()
if str(APP_DIR) not in sys.path:
    sys.path.insert(0, str(APP_DIR))

BODY = "x" * 20_000


def add_bench_views(app) -> None:
    """The bench-only views on `app` (also used in-process by bench/shell_profile.py): bare, select1, login, shell."""
    from flask import render_template
    from flask_login import login_required
    from jinja2 import ChoiceLoader, DictLoader
    from sqlalchemy import text

    from app.extensions import db

    @app.get("/__bench/bare")
    def _bench_bare():
        return BODY

    @app.get("/__bench/select1")
    def _bench_select1():
        return BODY + str(db.session.execute(text("SELECT 1")).scalar_one())

    @app.get("/__bench/login")
    @login_required
    def _bench_login():
        return BODY

    @app.get("/__bench/shell")
    @login_required
    def _bench_shell():
        return render_template("__bench_shell.html")

    app.jinja_env.loader = ChoiceLoader([
        DictLoader({"__bench_shell.html": '{% extends "base.html" %}{% block content %}<p>x</p>{% endblock %}'}),
        app.jinja_env.loader])


def create_app():
    from app import create_app as app_factory

    app = app_factory()
    add_bench_views(app)
    return app
