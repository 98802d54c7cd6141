"""The compose page in a real browser under the strict CSP (issue 13): an smm specialist writes a long post with two
photos, sees Telegram's split in the per-network preview, publishes, and watches the accounts' states change by
polling. The delivery engine is replaced by the recorder of tests/publishing/compose_support (the lead's final
browser test runs the real one)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Publication
from tests.browser.conftest import ARTIFACTS
from tests.publishing import compose_support
from tests.publishing.compose_support import JPEG, png_bytes

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world
pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def test_smm_composes_sees_the_split_publishes_and_watches_the_states(live_server, page, world):
    smm = world.users.smm
    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill(smm.username)
    page.get_by_label("Пароль", exact=True).fill("secret")
    page.get_by_role("button", name="Войти").click()
    page.get_by_role("link", name="Публикации").first.click()
    page.get_by_role("link", name="Новый пост").click()
    page.get_by_label("Текст").fill(("Приглашаем на концерт в актовом зале. " * 40).strip())
    page.get_by_label("Фото (JPEG, PNG, WebP или GIF; до 10 штук, до 10 МБ каждое)").set_input_files(files=[
        {"name": "a.png", "mimeType": "image/png", "buffer": png_bytes(40, 30)},
        {"name": "b.jpg", "mimeType": "image/jpeg", "buffer": JPEG}])
    page.get_by_label("все аккаунты участника").check()  # «выбрать все» of the participant (app.js, no inline JS)
    preview = page.locator("#preview")
    expect(preview.locator("article.telegram")).to_contain_text("альбом из 2 фото без подписи + отдельное "
                                                                "сообщение с текстом")
    expect(preview.locator("article.telegram")).to_contain_text("уйдёт отдельным сообщением после фото")
    expect(preview.locator("article.vk")).to_contain_text("запись на стене сообщества, фото: 2")
    vk = world.acc["s_vk"]
    page.locator(f"li:has(#rights-{vk.id})").get_by_role("button", name="проверить права").click()
    expect(page.locator(f"#rights-{vk.id}")).to_contain_text("у ключа нет права wall")  # CSRF on: the header
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "publishing-compose.png"), full_page=True)
    page.get_by_role("button", name="Опубликовать").click()
    expect(page.locator(".flash.ok")).to_contain_text("Пост публикуется")
    expect(page.locator("#deliveries tr[data-state=scheduled]")).to_have_count(4)
    pub = db.session.scalar(select(Publication).where(Publication.author_id == smm.id))
    for n, delivery in enumerate(pub.deliveries):
        delivery.state, delivery.permalink = "published", f"https://example.org/post/{n}"
    db.session.commit()
    expect(page.locator("#deliveries tr[data-state=published]")).to_have_count(4, timeout=10000)
    expect(page.locator("#deliveries").get_by_role("link", name="открыть")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "publishing-post.png"), full_page=True)
    page.get_by_role("link", name="Календарь", exact=True).click()
    expect(page.locator(".post-calendar .day.today")).to_contain_text("Приглашаем на концерт")
    page.screenshot(path=str(ARTIFACTS / "publishing-calendar.png"), full_page=True)


def test_press_ticks_a_whole_direction(live_server, page, world):
    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill(world.users.press.username)
    page.get_by_label("Пароль", exact=True).fill("secret")
    page.get_by_role("button", name="Войти").click()
    page.goto(f"{live_server}/posts/new")
    page.get_by_label("Текст").fill("Ночь музеев")
    page.locator("summary", has_text="П-Культура").click()
    page.get_by_label("выбрать все: П-Культура").check()
    expect(page.locator(f"input.dir-{world.cul.id}:checked")).to_have_count(4)
    expect(page.locator(f"input.dir-{world.edu.id}:checked")).to_have_count(0)
    expect(page.locator("#preview article")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "publishing-press-compose.png"), full_page=True)
