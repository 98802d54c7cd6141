"""The head in a real browser: open the board, change the period without a reload, open an overdue ticket
from the worklist and put it on control with an order; the board then lists the order."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import ControlOrder, utcnow
from app.services import board
from tests.browser.conftest import ARTIFACTS
from tests.factories import make_category, make_institution, make_ticket, make_user

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def test_head_changes_the_period_and_issues_a_control_order(live_server, page):
    roads = make_institution(name="МКУ «Служба заказчика»")
    cat = make_category("Дороги", institution=roads)
    make_user("head", username="head", password="demo")
    now = utcnow()
    late = make_ticket("Яма на дороге ул. Ленина, 12 уже месяц", category=cat, institution=roads,
                       created_at=now - timedelta(days=40))
    late.status, late.resolution_due_at = "in_progress", now - timedelta(days=30)
    for days in (3, 100, 200):  # one this month, two earlier this year (if the year is long enough); all answered
        t = make_ticket(f"Обращение {days} дней назад", institution=roads, created_at=now - timedelta(days=days))
        t.status, t.resolved_at = "closed", t.created_at + timedelta(hours=4)
    db.session.commit()
    year = board.standard_period("year", board.today())
    in_year = sum(1 for d in (3, 40, 100, 200) if now - timedelta(days=d) >= year.bounds(board.city_tz())[0])

    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill("head")
    page.get_by_label("Пароль").fill("demo")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_role("heading", name="Проблемные вопросы")).to_be_visible()  # the head lands here
    page.evaluate("window.__sameDocument = true")
    expect(page.locator('[data-figure="overdue"] .card-value')).to_be_visible()

    # Another period: the figures are swapped in place and the URL follows.
    page.get_by_label("Период").select_option("year")
    expect(page).to_have_url(f"{live_server}/board?period=year", timeout=10_000)
    expect(page.locator('[data-figure="received"] .card-value')).to_have_text(str(in_year))
    expect(page.locator(".period-line")).to_contain_text(year.start.strftime("%d.%m.%Y"))
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(ARTIFACTS / "board.png"), full_page=True)

    # The overdue ticket is first in the worklist; it opens to the ticket, where the head gives an order.
    first = page.locator(".worklist li").first
    expect(first).to_contain_text("Просроченные обращения")
    first.get_by_role("link").click()
    expect(page.get_by_role("heading", name=late.number)).to_be_visible()
    form = page.locator("#issue-order")
    form.get_by_label("Что сделать").fill("Заделать яму до конца недели и доложить с фото")
    form.get_by_label("Ответственное учреждение").select_option(label=roads.short_name)
    form.get_by_label("Срок (конец рабочего дня)").fill((board.today() + timedelta(days=5)).isoformat())
    form.get_by_role("button", name="Поставить на контроль").click()
    expect(page.locator("#issue-order")).to_contain_text("Поручение выдано")
    expect(page.locator("#t-on-control")).to_contain_text("На контроле")

    db.session.expire_all()
    order = db.session.query(ControlOrder).one()
    assert order.ticket_id == late.id and order.institution_id == roads.id and order.state == "issued"

    # Back on the board, the order is on the «На контроле» tab.
    page.goto(f"{live_server}/board")
    tab = page.locator('.tabs a[data-kind="orders"]')
    expect(tab).to_contain_text("1")
    tab.click()
    expect(page.locator(".worklist")).to_contain_text("Поручение")
    page.screenshot(path=str(ARTIFACTS / "board-orders.png"), full_page=True)

    # On a phone the board fits the screen (tables scroll inside their own box).
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/board")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
