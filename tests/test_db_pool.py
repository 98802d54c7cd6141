"""The pool's check of a connection before use (app/extensions.py ping_when_idle): a connection that sat idle and died
meanwhile (the database restarted, an idle timeout) is replaced before a request uses it; one in use a moment ago is
not checked (no round trip per request)."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from app import create_app
from app.extensions import db
from config import TestConfig


def _app(idle_seconds: float):
    cfg = type("PingConfig", (TestConfig,), {"DB_PING_IDLE_SECONDS": idle_seconds})
    return create_app(cfg)


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


@pytest.mark.no_db_rollback
def test_a_connection_that_died_while_idle_is_replaced_before_use():
    app = _app(0)
    with app.app_context():
        engine = db.engine
        pid = _backend(engine)
        killer = create_engine(engine.url, poolclass=NullPool)
        try:
            with killer.connect() as conn:  # as a restart of the database would
                assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        finally:
            killer.dispose()
        assert _backend(engine) != pid  # no error: the dead connection was noticed at checkout
        engine.dispose()


@pytest.mark.no_db_rollback
def test_a_connection_used_a_moment_ago_is_not_pinged(monkeypatch):
    app = _app(3600)
    with app.app_context():
        engine = db.engine
        pings = []
        real = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real(c))
        first = _backend(engine)
        for _ in range(3):
            assert _backend(engine) == first  # the same pooled connection, taken back each time
        assert pings == []
        engine.dispose()
