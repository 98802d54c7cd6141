"""The participants' staff pages in a real browser under the strict CSP (issue 12): the press service adds a
participant with a logo, an smm specialist sets its password through a one-time link and adds a link to another
network. The `page` fixture fails a test on any CSP console message."""
import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.services import users
from tests.factories import make_account, make_direction, make_institution, make_user

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")  # 1×1

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def log_in(page, live_server, username, password):
    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill(username)
    page.get_by_label("Пароль", exact=True).fill(password)
    page.get_by_role("button", name="Войти").click()


def test_press_adds_a_participant_with_a_logo(app, live_server, page, tmp_path):
    saved, app.config["UPLOAD_DIR"] = app.config["UPLOAD_DIR"], str(tmp_path)
    try:
        make_direction("Образование")
        make_user("press", username="press", password="long-password-1")
        db.session.commit()
        log_in(page, live_server, "press", "long-password-1")
        expect(page.get_by_role("heading", name="Участники")).to_be_visible()
        expect(page.get_by_role("link", name="Очередь")).to_have_count(0)
        page.get_by_role("link", name="Добавить участника").click()
        page.get_by_label("Официальное название").fill("МБОУ «Средняя школа № 5»")
        page.get_by_label("Краткое название").fill("Школа № 5")
        page.get_by_label("Направление").select_option(label="Образование")
        page.get_by_label("Сайт (http:// или https://)").fill("https://school5.ru")
        page.get_by_label("Логотип (PNG, JPEG или WebP)").set_input_files(
            files=[{"name": "logo.png", "mimeType": "image/png", "buffer": PNG}])
        page.get_by_role("button", name="Сохранить").click()
        expect(page.locator(".flash.ok")).to_contain_text("Участник «Школа № 5» добавлен")
        logo = page.locator("img.logo")
        expect(logo).to_be_visible()
        # served and decoded (waits for the image to load: visible comes before decoded on a busy machine)
        page.wait_for_function("() => { const i = document.querySelector('img.logo'); return i && i.complete; }")
        assert page.evaluate("document.querySelector('img.logo').naturalWidth") == 1
    finally:
        app.config["UPLOAD_DIR"] = saved


def test_smm_sets_its_password_by_the_link_and_adds_a_link(live_server, page):
    school = make_institution(name="Детская библиотека")
    admin = make_user("admin")
    smm = make_user("smm", institution=school, username="lib_smm")
    token = users.issue_password_link(admin, smm)
    db.session.commit()
    page.goto(f"{live_server}/account/set-password/{token}")
    page.get_by_label("Новый пароль", exact=True).fill("Bibl-parol-2026")
    page.get_by_label("Новый пароль ещё раз").fill("Bibl-parol-2026")
    page.get_by_role("button", name="Задать пароль").click()
    expect(page.locator(".flash.ok")).to_contain_text("Пароль задан")
    log_in(page, live_server, "lib_smm", "Bibl-parol-2026")
    expect(page.get_by_role("heading", name="Аккаунты: Детская библиотека")).to_be_visible()
    page.get_by_label("Сеть (Дзен, RuTube…)").fill("Дзен")
    page.get_by_label("Ссылка (http:// или https://)").fill("https://dzen.ru/library")
    page.get_by_role("button", name="Добавить ссылку").click()
    expect(page.locator("table.accounts")).to_contain_text("https://dzen.ru/library")


def test_smm_accounts_page_fits_a_phone(live_server, page):
    """On a phone the accounts table scrolls in its own box; the page itself is not wider than the screen."""
    school = make_institution(name="МУП «Водоканал» г. Белогорск")
    acc = make_account(school, network="vk")
    acc.title, acc.handle, acc.followers = "МУП «Водоканал» г. Белогорск", "vodokanal_blg", 7887
    acc.url = "https://vk.com/vodokanal_blg"
    make_user("smm", institution=school, username="vod_smm", password="long-password-2")
    db.session.commit()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "vod_smm", "long-password-2")
    expect(page.get_by_role("heading", name="Аккаунты: МУП «Водоканал»")).to_be_visible()
    expect(page.locator("table.accounts")).to_contain_text("7\u202f887")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
