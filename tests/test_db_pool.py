"""The pool's check of a connection before use (pool_pre_ping, config.py): a connection that died in the pool (the
database restarted, an idle timeout) is replaced before a request uses it, so the request does not fail."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from app import create_app
from app.extensions import db
from config import TestConfig


def _app():
    return create_app(TestConfig)


def _backend(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


@pytest.mark.no_db_rollback
def test_a_connection_that_died_while_idle_is_replaced_before_use():
    app = _app()
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
