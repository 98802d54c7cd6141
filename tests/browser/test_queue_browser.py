"""A moderator in a real browser: log in, filter the queue, assign a ticket through the HTMX bulk action,
see the row change and a new arrival appear without a reload."""
import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.browser.conftest import ARTIFACTS
from tests.factories import make_category, make_institution, make_ticket, make_user

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def test_moderator_filters_and_assigns_without_reload(live_server, page):
    water = make_institution(name="МУП «Водоканал» г. Белогорск")
    power = make_institution(name="АО «Горэлектросеть»")
    cat = make_category("Уличное освещение", institution=None)
    make_user("moderator", username="moderator", password="demo")
    lamp = make_ticket("Во дворе ул. Кирова, 45 не горят фонари", network="vk", category=cat)
    make_ticket("Нет холодной воды на Партизанской, 12", network="vk", institution=water)
    tg = make_ticket("Когда починят дорогу на ул. Ленина?", network="telegram")
    db.session.commit()

    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill("moderator")
    page.get_by_label("Пароль").fill("demo")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_role("heading", name="Очередь обращений")).to_be_visible()
    expect(page.locator(f"#row-{tg.id}")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    # Filter by network: the list is swapped in place and the URL follows (bookmarkable).
    page.get_by_label("Сеть").select_option("vk")
    expect(page.locator(f"#row-{tg.id}")).to_have_count(0)
    expect(page.locator(f"#row-{lamp.id}")).to_be_visible()
    expect(page).to_have_url(f"{live_server}/queue?status=open&network=vk&sort=new")

    # Assign the lamp ticket to the power company with the bulk action.
    page.locator(f"#row-{lamp.id} input[name=ids]").check()
    page.locator("#bulk-action").select_option("assign")
    page.locator("#bulk-institution").select_option(label=power.short_name)
    page.get_by_role("button", name="Применить").click()
    expect(page.locator("#bulk-result")).to_contain_text("Изменено: 1")
    row = page.locator(f"#row-{lamp.id}")
    expect(row.locator(".inst")).to_have_text(power.short_name)
    expect(row).to_contain_text("Передано исполнителю")

    # A resident writes in: the new ticket appears at the top without a reload.
    fresh = make_ticket("Упало дерево на детскую площадку, ул. Северная, 3", network="vk")
    db.session.commit()
    expect(page.locator("#rows tr").first).to_have_id(f"row-{fresh.id}", timeout=10_000)
    expect(page.locator("#arrivals-note")).to_contain_text("1 новое обращение")

    assert page.evaluate("window.__sameDocument") is True  # never reloaded
    page.screenshot(path=str(ARTIFACTS / "queue.png"), full_page=True)

    # The bookmarked URL opened directly gives the same filtered full page.
    page.goto(page.url)
    expect(page.get_by_label("Сеть")).to_have_value("vk")
    expect(page.locator(f"#row-{tg.id}")).to_have_count(0)
