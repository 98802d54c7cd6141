"""The pages under the app's strict CSP in a real browser: nothing the policy blocks is needed, HTMX works, and a
violation would be seen (the `page` fixture fails a test on any CSP console message)."""
import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.factories import make_ticket, make_user

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def log_in(page, live_server, username, password):
    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill(username)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_role("button", name="Войти").click()


def test_the_console_watch_sees_a_csp_violation(live_server, page):
    """The watch itself: an inline script added to a page is refused by the CSP and reported."""
    page.goto(f"{live_server}/login")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                            document.body.appendChild(s); }""")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    assert any("Content Security Policy" in p for p in page.csp_problems)
    page.csp_problems.clear()


def test_login_queue_check_all_and_admin_users_work_under_the_csp(live_server, page):
    make_user("admin", username="admin", password="long-password-1")
    make_user("moderator", username="anna", password="long-password-1")
    for text in ("Не горят фонари на ул. Кирова", "Яма на ул. Мира"):
        make_ticket(text, network="vk")
    db.session.commit()

    log_in(page, live_server, "admin", "long-password-1")
    page.goto(f"{live_server}/queue")
    expect(page.get_by_role("heading", name="Очередь обращений")).to_be_visible()
    page.get_by_label("Отметить все").check()  # was an inline onclick: now app.js
    expect(page.locator("#rows input[name=ids]:checked")).to_have_count(2)

    page.goto(f"{live_server}/admin/users")
    row = page.locator("tr", has_text="anna")
    row.get_by_label("Новый пароль").fill("short")
    row.get_by_role("button", name="Задать пароль").click()
    expect(page.locator("tr", has_text="anna")).to_contain_text("Пароль слишком короткий")
    row = page.locator("tr", has_text="anna")
    row.get_by_role("button", name="Отключить").click()
    expect(page.locator("tr", has_text="anna")).to_contain_text("отключён")

    page.goto(f"{live_server}/appeal")
    expect(page.get_by_role("heading").first).to_be_visible()
    page.goto(f"{live_server}/account/password")
    expect(page.get_by_role("heading", name="Смена пароля")).to_be_visible()
