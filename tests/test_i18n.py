"""The interface language: Russian by default, English with LANGUAGE=en (app/translations/en).

Flask-Babel keeps the chosen locale on `g`, and the tests' app context (see conftest) outlives the
requests a test makes, so a change of LANGUAGE inside a test takes effect only after
flask_babel.refresh(). Loaded catalogues are cached per locale for the life of the app, so the
cache is emptied once the .mo file has been (re)compiled.
"""
from __future__ import annotations

import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import flask_babel
import pytest
from babel.messages.pofile import read_po

from tests.factories import make_institution, make_ticket, make_user

TRANSLATIONS = Path(__file__).resolve().parent.parent / "app" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogue(app):
    """Compile the catalogue if its .mo is missing or older than the .po (.mo files are not in git)."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        done = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile", "-d", str(TRANSLATIONS)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        with app.app_context():
            app.extensions["babel"].instance.domain_instance.cache.clear()


def set_language(app, code: str) -> None:
    app.config["LANGUAGE"] = code
    flask_babel.refresh()  # forget the locale already chosen in this app context


@contextmanager
def english_interface(app):
    """The English interface inside the block: the catalogue compiled first when the .po is newer."""
    if not MO.exists() or MO.stat().st_mtime < PO.stat().st_mtime:
        done = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile", "-d", str(TRANSLATIONS)],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        app.extensions["babel"].instance.domain_instance.cache.clear()
    set_language(app, "en")
    try:
        yield
    finally:
        set_language(app, "ru")


@pytest.fixture
def english(app):
    """The English interface for one test; Russian again afterwards, whatever happens."""
    set_language(app, "en")
    try:
        yield
    finally:
        set_language(app, "ru")


def page(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


# --- English -------------------------------------------------------------------------------------
def test_login_page_in_english(client, english):
    html = page(client, "/login")
    assert '<html lang="en">' in html
    assert "Staff sign-in" in html
    for text in ("Open Municipality", "Username", "Password", "Remember me", "Sign in"):
        assert text in html
    for text in ("Вход для сотрудников", "Имя пользователя", "Пароль", "Войти"):
        assert text not in html


def test_form_validation_messages_in_english(client, english):
    resp = client.post("/login", data={"username": "", "password": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Enter your username" in html and "Enter your password" in html
    assert "Введите" not in html


def test_moderator_queue_in_english(login, english):
    t = make_ticket(status="new")
    html = page(login(make_user("moderator")), "/queue")
    assert "<h1>Ticket queue</h1>" in html
    assert '<span class="badge st-new">New</span>' in html
    assert t.number in html
    for text in ("Received", "Channel", "Assignee", "Category", "Status", "Due", "Newest first",
                 "Any deadline", "due soon", "With selected:", "Apply", "Sign out"):
        assert text in html, text
    for text in ("Очередь обращений", ">Новое<", "Поступило", "Исполнитель", "Рубрика", "Выйти"):
        assert text not in html, text


def test_status_labels_in_english(login, english):
    moderator = make_user("moderator")
    assigned = make_ticket(status="assigned")
    waiting = make_ticket(status="waiting_resident")
    html = page(login(moderator), "/queue")
    assert f'<span class="badge st-{assigned.status}">Assigned</span>' in html
    assert f'<span class="badge st-{waiting.status}">Waiting for resident</span>' in html


def test_ticket_page_in_english(login, english):
    t = make_ticket()
    html = page(login(make_user("moderator")), f"/tickets/{t.number}")
    for text in (f"Ticket {t.number}", "Resident", "Assignee", "Category", "Priority", "Normal", "Activity",
                 "Change status", "Reply to resident", "Note for staff", "Merge (duplicate)", "← Back to list"):
        assert text in html, text
    for text in ("Житель", "Ход работы", "Изменить статус"):
        assert text not in html, text


def test_timeline_and_board_in_english(login, english):
    from app.services import tickets as ticket_service

    t = make_ticket()
    moderator = make_user("moderator")
    ticket_service.set_priority(t, "urgent", moderator)
    html = page(login(moderator), f"/tickets/{t.number}")
    for text in ("Ticket registered (", "Priority: Urgent (was: Normal)", "New resolution deadline:"):
        assert text in html, text
    for text in ("Обращение зарегистрировано", "Приоритет: Срочный", "Новый срок решения"):
        assert text not in html, text
    board = page(login(make_user("head")), "/board")
    for text in ("Problem issues", "Received", "Resolved on time", "What needs attention", "How the rank is computed"):
        assert text in board, text
    assert "Что требует внимания" not in board


def test_refusals_in_english(login, english):
    t = make_ticket()
    executor = make_user("executor", institution=make_institution())
    t.institution = executor.institution
    resp = login(executor).post(f"/tickets/{t.number}/priority", data={"priority": "urgent", "version": t.version})
    assert resp.status_code == 422 and "Only a moderator can do this" in resp.get_data(as_text=True)
    moderator = login(make_user("moderator"))
    resp = moderator.post(f"/tickets/{t.number}/status", data={"status": "closed", "version": t.version})
    assert "A ticket cannot go from “New” to “Closed”" in resp.get_data(as_text=True)


def test_arrivals_note_in_english(login, english):
    first = make_ticket()
    make_ticket()
    client = login(make_user("moderator"))
    html = page(client, f"/queue/arrivals?after={first.id - 1}")
    assert "2 new tickets" in html


# --- Russian (the default) -------------------------------------------------------------------------
def test_russian_is_the_default(app, client):
    assert app.config["LANGUAGE"] == "ru"
    html = page(client, "/login")
    assert '<html lang="ru">' in html
    assert "Вход для сотрудников" in html and "Имя пользователя" in html
    assert "Staff sign-in" not in html


def test_moderator_queue_in_russian(login):
    t = make_ticket(status="new")
    html = page(login(make_user("moderator")), "/queue")
    assert "<h1>Очередь обращений</h1>" in html
    assert '<span class="badge st-new">Новое</span>' in html
    assert t.number in html
    assert "Ticket queue" not in html and ">New<" not in html


def test_arrivals_note_in_russian_plural_forms(login):
    first = make_ticket()
    make_ticket()
    client = login(make_user("moderator"))
    assert "2 новых обращения" in page(client, f"/queue/arrivals?after={first.id - 1}")


def test_switching_language_within_one_test(app, client):
    assert "Вход для сотрудников" in page(client, "/login")
    set_language(app, "en")
    try:
        assert "Staff sign-in" in page(client, "/login")
    finally:
        set_language(app, "ru")
    assert "Вход для сотрудников" in page(client, "/login")


# Domain errors take their message as the first argument (app/services/errors.py); tickets.require the third.
DOMAIN_ERROR_KEYWORDS = [arg for k in ("ValidationFailed", "NotFound", "NotAllowed", "InvalidTransition",
                                       "DomainError", "Conflict", "require:3") for arg in ("-k", k)]


def test_every_marked_string_has_an_english_translation(tmp_path):
    """Extract from the sources as the README says; each msgid must be translated (not empty, not fuzzy)."""
    pot = tmp_path / "messages.pot"
    done = subprocess.run([sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
                           "-k", "_l", *DOMAIN_ERROR_KEYWORDS, "--ignore-dirs", ".* __pycache__", "-o", str(pot), "."],
                          cwd=TRANSLATIONS.parent.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with pot.open("rb") as f:
        extracted = {m.id for m in read_po(f) if m.id}
    assert "Очередь обращений" in extracted and "Передано исполнителю" in extracted  # templates and _l strings
    with PO.open("rb") as f:
        english = {m.id: m for m in read_po(f) if m.id}
    missing = sorted(i for i in extracted if i not in english or not english[i].string or english[i].fuzzy)
    assert not missing, "untranslated (run pybabel extract && pybabel update, then translate): %s" % missing
