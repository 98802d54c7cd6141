"""The head in a real browser opens /rating and changes the period: the table is swapped in place, no CSP
problems."""
from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import AccountSnapshot, Post, utcnow
from app.services import board
from app.services.rating import frozen
from tests.browser.conftest import ARTIFACTS
from tests.factories import make_account, make_direction, make_institution, make_user

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def test_head_opens_the_rating_and_changes_the_period(live_server, page):
    today = board.today()
    year = board.standard_period("year", today)
    d = make_direction("Культура")
    inst = make_institution(d, name="Городская библиотека")
    acc = make_account(inst, "vk")
    db.session.add(AccountSnapshot(account_id=acc.id, taken_on=year.start, followers=300, posts=0))
    db.session.add(AccountSnapshot(account_id=acc.id, taken_on=today, followers=400, posts=0))
    # one post early in the year (outside this month unless it is January), one today
    for k, day in enumerate((year.start, today)):
        db.session.add(Post(account_id=acc.id, external_id=f"b{k}", views=50, reactions=1, comments=0, reposts=0,
                            published_at=datetime.combine(day, time(12), ZoneInfo("Asia/Yakutsk"))
                            .astimezone(timezone.utc)))
    make_user("head", username="head", password="demo")
    db.session.commit()
    month = board.standard_period("month", today)
    in_month = len({day for day in (year.start, today) if day >= month.start})  # days with posts
    in_year = len({year.start, today})
    cell = page.locator(f'tr[data-institution="{inst.id}"] [data-component="post_days"]')

    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill("head")
    page.get_by_label("Пароль").fill("demo")
    page.get_by_role("button", name="Войти").click()
    page.get_by_role("link", name="Рейтинг").click()
    expect(page.get_by_role("heading", name="Рейтинг участников")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#rating-period")).to_contain_text(month.start.strftime("%d.%m.%Y"))
    expect(page.get_by_role("link", name="Городская библиотека")).to_be_visible()
    expect(cell).to_have_text(str(in_month))

    page.get_by_label("Период").select_option("year")
    expect(page).to_have_url(f"{live_server}/rating?period=year", timeout=10_000)
    expect(page.locator("#rating-period")).to_contain_text(year.start.strftime("%d.%m.%Y"))
    expect(cell).to_have_text(str(in_year))
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(ARTIFACTS / "rating.png"), full_page=True)
    page.get_by_role("link", name="Городская библиотека").first.click()
    expect(page.get_by_role("heading", name="Городская библиотека")).to_be_visible()

    # «к поощрению»: a closed month (the previous one), the head marks the participant with a note
    page.go_back()
    page.get_by_label("Период").select_option("month")
    expect(page).to_have_url(f"{live_server}/rating?period=month", timeout=10_000)
    page.get_by_role("link", name="Закончившийся период (для отметок «к поощрению»)").click()
    last = frozen.last_closed("month", utcnow())
    expect(page.locator("#rating-period")).to_contain_text(
        f"{last.start:%d.%m.%Y} — {last.end:%d.%m.%Y}")
    row = page.locator(f'tr[data-institution="{inst.id}"]')
    row.get_by_placeholder("Примечание").fill("Много постов")
    row.get_by_role("button", name="к поощрению").click()
    expect(page.get_by_text("Участник отмечен «к поощрению»")).to_be_visible()
    expect(row.locator(".encouraged")).to_have_text("к поощрению")
    expect(row.locator(".note")).to_have_text("Много постов")
    expect(row.get_by_role("button", name="снять отметку")).to_be_visible()
    expect(page.get_by_role("link", name="Выгрузить отмеченных (Excel)")).to_be_visible()
