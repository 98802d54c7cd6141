"""Run a job function inside an application context (a worker has none of its own)."""
from __future__ import annotations

import functools

from flask import has_app_context

_app = None


def set_app(app) -> None:
    global _app
    _app = app


def in_app(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if has_app_context():
            return func(*args, **kwargs)
        global _app
        if _app is None:
            from app import create_app

            _app = create_app()
        with _app.app_context():
            return func(*args, **kwargs)

    return wrapper

