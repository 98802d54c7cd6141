"""A transaction that changed nothing is committed instead of rolled back (app/plans.py), so psycopg keeps the
statements it prepared and PostgreSQL does not plan every page's statements anew; any transaction that wrote —
through SQLAlchemy or the driver's own cursor — is still rolled back."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DataError

from app import create_app
from app.extensions import db
from config import TestConfig

pytestmark = pytest.mark.no_db_rollback


@pytest.fixture
def engine():
    app = create_app(TestConfig)  # registers app/plans.py's hook (once a process)
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "postgresql":
        pytest.skip("psycopg's prepared statements: PostgreSQL only")
    eng = create_engine(url)
    table = f"plans_probe_{uuid.uuid4().hex[:8]}"
    with eng.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id integer PRIMARY KEY, note text)"))
    eng.probe = table
    yield eng
    with eng.begin() as conn:
        conn.execute(text(f"DROP TABLE {table}"))
    eng.dispose()


def _rows(eng) -> int:
    with eng.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {eng.probe}")).scalar_one()


def test_reading_transactions_keep_the_prepared_statements(engine):
    with engine.connect() as conn:
        for i in range(8):  # psycopg prepares a statement on its 5th run (prepare_threshold)
            assert conn.execute(text(f"SELECT count(*) + :i FROM {engine.probe}"), {"i": i}).scalar_one() == i
            conn.rollback()  # what the end of every request does
        kept = conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar_one()
    assert kept >= 1  # before app/plans.py every ROLLBACK made psycopg forget them: 0


def test_a_transaction_that_wrote_through_sqlalchemy_is_rolled_back(engine):
    with engine.connect() as conn:
        conn.execute(text(f"SELECT count(*) FROM {engine.probe}"))
        conn.execute(text(f"INSERT INTO {engine.probe} VALUES (1, 'не сохранять')"))
        conn.rollback()
    assert _rows(engine) == 0


@pytest.mark.parametrize("how", ["execute", "copy", "select for update"])
def test_a_transaction_that_wrote_behind_sqlalchemys_back_is_rolled_back(engine, how):
    with engine.connect() as conn:
        if how == "select for update":
            with engine.begin() as setup:
                setup.execute(text(f"INSERT INTO {engine.probe} VALUES (7, 'было')"))
        conn.execute(text(f"SELECT count(*) FROM {engine.probe}"))
        cursor = conn.connection.driver_connection.cursor()  # as ticket_import's COPY does
        if how == "execute":
            cursor.execute(f"INSERT INTO {engine.probe} VALUES (2, 'не сохранять')")
        elif how == "copy":
            with cursor.copy(f"COPY {engine.probe} (id, note) FROM STDIN") as copy:
                copy.write_row((3, "не сохранять"))
        else:
            cursor.execute(f"SELECT id FROM {engine.probe} FOR UPDATE")
            cursor.execute(f"UPDATE {engine.probe} SET note = 'не сохранять'")
        conn.rollback()
    with engine.connect() as conn:
        notes = conn.execute(text(f"SELECT note FROM {engine.probe}")).scalars().all()
    assert notes == (["было"] if how == "select for update" else [])


def test_a_failed_transaction_is_rolled_back_and_the_connection_serves_again(engine):
    with engine.connect() as conn:
        with pytest.raises(DataError):
            conn.execute(text("SELECT 1 / 0"))
        conn.rollback()
        assert conn.execute(text("SELECT 2")).scalar_one() == 2
