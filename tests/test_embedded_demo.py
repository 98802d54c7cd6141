"""`make run` serves the demo from a SQLite file (the embedded default): every staff and public page must work there
too. The rest of the suite runs on PostgreSQL, so a statement only PostgreSQL accepts (the ticket page's timeline
once: a UNION ordered by a column SQLite could not match) would otherwise break the first run unseen."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Institution, Ticket, User
from config import TestConfig

PAGES = [("moderator", "/queue"), ("moderator", "/control"), ("executor", "/my"), ("head", "/board"),
         ("head", "/rating"), (None, "/participants"), (None, "/stats")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("embedded") / "demo.db"
    cfg = type("EmbeddedDemoConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    app = create_app(cfg)
    with app.app_context():
        command = app.extensions["migrate"].migrate.get_config()
        from alembic import command as alembic
        alembic.upgrade(command, "head")
        result = app.test_cli_runner().invoke(args=["seed-demo", "--tickets", "120", "--days", "20", "--no-model"])
        assert result.exit_code == 0, result.output
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


def _client(app, username):
    client = app.test_client()
    if username:
        with app.app_context():
            user = db.session.scalar(select(User).where(User.username == username))
            uid = user.get_id()
        with client.session_transaction() as s:
            s["_user_id"], s["_fresh"] = uid, True
    return client


pytestmark = pytest.mark.no_db_rollback


@pytest.mark.parametrize("username,path", PAGES)
def test_each_page_of_the_embedded_demo_answers(demo, username, path):
    r = _client(demo, username).get(path)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert "<main" in r.get_data(as_text=True)


@pytest.mark.parametrize("username", ["moderator", "executor", "head"])
def test_ticket_pages_of_the_embedded_demo_answer(demo, username):
    with demo.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        stmt = select(Ticket.number).order_by(Ticket.id.desc()).limit(5)
        if username == "executor":
            stmt = stmt.where(Ticket.institution_id == user.institution_id)
        numbers = db.session.scalars(stmt).all()
        merged = db.session.scalar(select(Ticket.number).where(
            Ticket.id.in_(select(Ticket.duplicate_of_id).where(Ticket.duplicate_of_id.is_not(None)))))
        slug = db.session.scalar(select(Institution.slug).where(Institution.slug.is_not(None)).limit(1))
    assert numbers
    client = _client(demo, username)
    for number in numbers + ([merged] if merged and username != "executor" else []):
        r = client.get(f"/tickets/{number}")
        assert r.status_code == 200, (number, r.get_data(as_text=True)[:500])
        r = client.get(f"/tickets/{number}", headers={"HX-Request": "true"})
        assert r.status_code == 200, number
        assert _client(demo, None).get(f"/status/{number}").status_code == 200
    assert _client(demo, None).get(f"/participants/{slug}").status_code == 200
