"""Test fixtures: the app on TEST_DATABASE_URL (PostgreSQL in CI) built by the migrations,
one rolled-back transaction per test, clients logged in as each role."""
from __future__ import annotations

import os

import pytest
from alembic import command
from flask import g
from sqlalchemy import text

from app import create_app, fragments
from app.extensions import db
from config import TestConfig
from tests.test_i18n import english_interface

pytest_plugins = ["tests.telegram_support", "tests.vk_support", "tests.smtp_support",
                  "tests.intake_support"]  # fake APIs, local SMTP

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def reset_database(app) -> None:
    """Drop every table and build the schema with `flask db upgrade` (the migrations, not create_all)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:
            db.drop_all()
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        cfg = app.extensions["migrate"].migrate.get_config()
        command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def app():
    app = create_app(TestConfig)
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.exit("The tests run on PostgreSQL (as production does): set TEST_DATABASE_URL, "
                    "or use `make test`, which points it at 127.0.0.1:5432/test.", returncode=2)
    reset_database(app)

    @app.before_request
    def _fresh_login_user():
        # Requests share the test's app context, hence its `g`: let each request load its own user from its own
        # session, as in production (else one client's user would leak into another client's request).
        g.pop("_login_user", None)
        g.pop("csrf_token", None)  # Flask-WTF caches the token in `g` too: each request signs its own session's

    return app


@pytest.fixture(autouse=True)
def _db(request, app):
    """Each test runs in a transaction that is rolled back; commits inside become savepoints."""
    fragments.forget()  # rows held by their moment: a rolled-back test's rows may come back with other data
    if "no_db_rollback" in request.keywords:
        with app.app_context():
            yield
        return
    with app.app_context():
        # Flask-SQLAlchemy picks the bind from db.engines, so the connection goes there
        # (pallets-eco/flask-sqlalchemy#1171); commits inside the test become savepoints.
        engines = db._app_engines[app]
        engine = engines[None]
        conn = engine.connect()
        trans = conn.begin()
        engines[None] = conn
        original = db.session
        db.session = db._make_scoped_session({"join_transaction_mode": "create_savepoint"})
        try:
            yield
        finally:
            db.session.remove()
            db.session = original
            engines[None] = engine
            trans.rollback()
            conn.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def login(client):
    """login(user) → the test client, logged in as that user."""
    def _login(user):
        db.session.commit()  # test data becomes visible to the request (still rolled back after the test)
        # Requests share the test's app context, hence its `g`: forget the user Flask-Login cached there.
        g.pop("_login_user", None)
        with client.session_transaction() as s:
            s["_user_id"] = user.get_id()
            s["_fresh"] = True
        return client
    return _login


@pytest.fixture
def redis_url():
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        if REQUIRE_SERVICES:
            pytest.fail("TEST_REDIS_URL is required in CI")
        pytest.skip("no TEST_REDIS_URL: real-Redis test not run")
    import redis

    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture
def clock(monkeypatch):
    """The outbox's clock, set by the test (clock(moment) → moment): the delivery jobs run in-process after each
    commit and read it."""
    from app.services import replies

    def set_to(moment):
        monkeypatch.setattr(replies, "utcnow", lambda: moment)
        return moment
    return set_to


@pytest.fixture
def in_english(app):
    """The English interface for one test (the catalogue compiled if needed, as tests/test_i18n.py does)."""
    with english_interface(app):
        yield
