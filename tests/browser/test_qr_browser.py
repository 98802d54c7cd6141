"""The A4 poster in a real browser under the strict CSP: every QR code image loads from the app, the print
layout (print media) fits one A4 sheet with the codes at their printed size, and the screenshot is kept."""
import pytest

from app.extensions import db
from tests.browser.conftest import ARTIFACTS
from tests.factories import make_account, make_institution

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]

CONFIG = dict(TELEGRAM_BOT_TOKEN="7012345678:AAH4-test", TELEGRAM_BOT_USERNAME="om_belogorsk_bot",
              VK_GROUP_ID="218000777", VK_ACCESS_TOKEN="vk1.a.token", MAX_BOT_TOKEN="max-token",
              MAX_BOT_NAME="om_belogorsk_max_bot", PUBLIC_BASE_URL="https://om.belogorsk.example")


@pytest.fixture
def bots(app):
    saved = {k: app.config.get(k) for k in CONFIG}
    app.config.update(CONFIG)
    yield
    app.config.update(saved)


def test_poster_prints_on_one_a4_sheet_with_every_code_loaded(live_server, page, bots):
    school = make_institution(name="МАОУ «Средняя общеобразовательная школа № 3 г. Белогорск»")
    school.short_name, school.address = "Школа № 3", "ул. Ленина, 12, г. Белогорск"
    for network, url, title in (("telegram", "https://t.me/school3_blg", "Школа № 3 — новости"),
                                ("vk", "https://vk.com/school3_blg", "Школа № 3"),
                                ("ok", "https://ok.ru/group/70000012345678", "Школа № 3")):
        acc = make_account(school, network=network)
        acc.url, acc.title = url, title
    db.session.commit()

    page.emulate_media(media="print")
    page.set_viewport_size({"width": 703, "height": 1032})  # A4 less the 12 mm page margins, at 96 px/inch
    page.goto(f"{live_server}/participants/{school.slug}/poster")
    images = page.locator("img")
    assert images.count() == 7  # three bots, the form, three accounts
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    assert not page.locator(".poster-hint").is_visible()  # the screen hint is not printed
    # the codes at their printed size: about 35 mm (CSS mm: 96 px to the inch)
    width = images.first.bounding_box()["width"]
    assert abs(width - 35 / 25.4 * 96) < 2
    assert page.evaluate("document.querySelector('.poster').getBoundingClientRect().height") <= 1032
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "qr-poster-print.png"), full_page=True)
    pdf = page.pdf(format="A4", prefer_css_page_size=True)
    (ARTIFACTS / "qr-poster.pdf").write_bytes(pdf)
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") == 1  # one sheet

    page.emulate_media(media="screen")  # on screen: the sheet on grey, with the printing hint
    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    assert page.locator(".poster-hint").is_visible()
    page.screenshot(path=str(ARTIFACTS / "qr-poster-screen.png"), full_page=True)
