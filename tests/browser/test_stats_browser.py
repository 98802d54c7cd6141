"""A resident on a phone opens the open statistics, picks the year and a direction, and downloads the CSV; the
embed variant has no app header. No CSP violation anywhere (the `page` fixture watches the console)."""
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import utcnow
from tests.browser.conftest import ARTIFACTS
from tests.factories import make_category, make_direction, make_institution, make_ticket

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def test_a_resident_reads_the_statistics_on_a_phone(live_server, page):
    housing = make_direction("ЖКХ")
    inst = make_institution(housing, name="УК «Уютный дом»")
    cat = make_category("Освещение", institution=inst)
    now = utcnow()
    for days in (1, 2, 40, 70, 120):
        t = make_ticket(f"Не горит фонарь, {days}", institution=inst, category=cat,
                        created_at=now - timedelta(days=days))
        t.status, t.resolved_at = "resolved", t.created_at + timedelta(hours=20)
        t.resolution_due_at = t.created_at + timedelta(days=1)
    db.session.commit()

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/stats")
    expect(page.get_by_role("heading", name="Открытая статистика обращений жителей")).to_be_visible()
    page.get_by_label("Период", exact=True).select_option("year")
    page.get_by_label("Направление").select_option(str(housing.id))
    page.get_by_role("button", name="Показать").click()
    expect(page.locator('table[data-table="directions"] tbody tr')).to_have_count(1)
    expect(page.locator('table[data-table="categories"] [data-figure="received"]').first).to_have_text(
        str(sum(1 for d in (1, 2, 40, 70, 120) if now - timedelta(days=d) >= now.replace(month=1, day=1))))
    # nothing wider than the phone: the tables scroll inside their own box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "stats-phone.png"), full_page=True)
    with page.expect_download() as dl:
        page.get_by_role("link", name="CSV").click()
    assert dl.value.suggested_filename.endswith(".csv")

    page.goto(f"{live_server}/stats?embed=1")
    expect(page.get_by_role("heading", name="Открытая статистика обращений жителей")).to_be_visible()
    expect(page.locator(".topbar")).to_have_count(0)
