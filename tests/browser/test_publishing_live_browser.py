"""Issue 13's «done when», end to end in a real browser under the strict CSP: the SM-specialist of a school logs in,
composes a 1,500-character post with two photos, sees the per-network previews (Telegram: the caption over 1,024
characters goes as a separate message), publishes, and watches each account turn «опубликовано» with a link —
through the real delivery engine and the real publishing modules, against the local fakes of Telegram, VK, OK
and MAX speaking the platforms' JSON. The fakes are then asked what each channel received."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.fakes.telegram import FakeTelegram
from app.fakes.vk import FakeVk
from app.models import Account, Delivery, Post
from app.services.secretbox import encrypt
from tests.browser.conftest import ARTIFACTS
from tests.factories import make_direction, make_institution, make_user
from tests.publishing.compose_support import png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]

TG_TOKEN, VK_CITY, MAX_TOKEN, OK_CITY = "7012345678:AAH-live-browser", "vk1.a.city", "max-bot-live", "tkn-ok-city"
VK_COMMUNITY, VK_USER, OK_GROUP = "vk1.a.school3-community", "vk1.a.school3-admin-user", "tkn-ok-school3"
TG_CHAT, VK_GID, OK_GID, MAX_CHAT = -1001234500003, 212003, "57700000003", -72000003


@pytest.fixture
def platforms(app, tmp_path):
    with FakeTelegram(token=TG_TOKEN) as tg, FakeVk(token=VK_CITY) as vk, \
            FakeOk(token=OK_CITY, application_key="CBAFAKE", application_secret_key="s3cr3t") as ok, \
            FakeMax(token=MAX_TOKEN) as mx:
        tg.add_channel(TG_CHAT, "Школа № 3", "school3_blg")
        vk.add_group(VK_GID, "Школа № 3", screen_name="school3_blg")
        vk.add_token(VK_COMMUNITY, group_id=VK_GID, permissions=("messages", "manage", "wall"))
        vk.add_token(VK_USER, kind="user", mask=8192 + 4 + 65536, admin_of=(VK_GID,))
        ok.add_group(OK_GID, "Школа № 3", "school3blg")
        ok.tokens.add(OK_GROUP)
        ok.add_admin(OK_GID, OK_GROUP)
        mx.add_chat(MAX_CHAT, "Школа № 3", "school3_blg")
        config = {"TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_API_URL": tg.base_url,
                  "VK_ACCESS_TOKEN": VK_CITY, "VK_SERVICE_TOKEN": None, "VK_API_URL": vk.base_url,
                  "OK_REST_ACCESS_TOKEN": OK_CITY, "OK_APPLICATION_KEY": "CBAFAKE",
                  "OK_APPLICATION_SECRET_KEY": "s3cr3t", "OK_API_URL": ok.base_url,
                  "MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": mx.base_url, "HTTP_TIMEOUT": 5,
                  "UPLOAD_DIR": str(tmp_path)}
        saved = {k: app.config.get(k) for k in config}
        app.config.update(config)
        try:
            yield tg, vk, ok, mx
        finally:
            app.config.update(saved)


def school_with_accounts() -> dict[str, Account]:
    school = make_institution(make_direction("Образование"), "МБОУ СОШ № 3")
    accounts = {
        "telegram": Account(institution=school, network="telegram", handle="school3_blg", external_id=str(TG_CHAT),
                            url="https://t.me/school3_blg", title="Школа № 3"),
        "vk": Account(institution=school, network="vk", handle="school3_blg", external_id=str(VK_GID),
                      url="https://vk.com/school3_blg", title="Школа № 3", token_enc=encrypt(VK_COMMUNITY),
                      user_token_enc=encrypt(VK_USER)),
        "ok": Account(institution=school, network="ok", handle="school3blg", external_id=OK_GID,
                      url="https://ok.ru/school3blg", title="Школа № 3", token_enc=encrypt(OK_GROUP)),
        "max": Account(institution=school, network="max", handle="school3_blg", external_id=str(MAX_CHAT),
                       url="https://max.ru/school3_blg", title="Школа № 3"),
    }
    db.session.add_all(accounts.values())
    make_user("smm", institution=school, username="olga", password="Olga-parol-2026")
    db.session.commit()
    return accounts


def test_smm_publishes_a_long_post_with_two_photos_everywhere_and_sees_it_published(live_server, page, platforms):
    tg, vk, ok, mx = platforms
    school_with_accounts()
    text = " ".join(f"Приглашаем на концерт в актовом зале, номер программы {n}." for n in range(1, 30))
    assert 1024 < len(text) < 4096

    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill("olga")
    page.get_by_label("Пароль", exact=True).fill("Olga-parol-2026")
    page.get_by_role("button", name="Войти").click()
    page.get_by_role("link", name="Публикации").first.click()
    page.get_by_role("link", name="Новый пост").click()
    page.get_by_label("Текст").fill(text)
    page.get_by_label("Фото (JPEG, PNG, WebP или GIF; до 10 штук, до 10 МБ каждое)").set_input_files(files=[
        {"name": "концерт-1.png", "mimeType": "image/png", "buffer": png_bytes(64, 48)},
        {"name": "концерт-2.png", "mimeType": "image/png", "buffer": png_bytes(48, 64)}])
    page.get_by_label("все аккаунты участника").check()
    preview = page.locator("#preview")
    telegram = preview.locator("article.telegram")
    expect(telegram).to_contain_text("альбом из 2 фото без подписи + отдельное сообщение с текстом")
    expect(telegram).to_contain_text("уйдёт отдельным сообщением после фото")
    expect(preview.locator("article.vk")).to_contain_text("фото: 2")
    expect(preview.locator("article")).to_have_count(4)
    page.screenshot(path=str(ARTIFACTS / "publishing-live-compose.png"), full_page=True)

    page.get_by_role("button", name="Опубликовать").click()
    deliveries = page.locator("#deliveries")
    expect(page.locator(".flash.ok")).to_contain_text("Пост опубликован")
    expect(deliveries.locator("tr[data-state=published]")).to_have_count(4, timeout=30000)
    expect(deliveries).not_to_contain_text("ошибка")
    links = deliveries.get_by_role("link", name="открыть")
    expect(links).to_have_count(4)
    hrefs = {links.nth(i).get_attribute("href") for i in range(4)}
    assert any(h.startswith("https://t.me/school3_blg/") for h in hrefs), hrefs
    assert any(h.startswith(f"https://vk.com/wall-{VK_GID}_") for h in hrefs), hrefs
    assert any(h.startswith(f"https://ok.ru/group/{OK_GID}/topic/") for h in hrefs), hrefs
    page.screenshot(path=str(ARTIFACTS / "publishing-live-post.png"), full_page=True)

    # what the networks received: Telegram the album then the whole text as its own message, nothing cut
    got = tg.received(TG_CHAT)
    assert [m.get("media_group_id") is not None for m in got] == [True, True, False]
    assert got[-1]["text"] == text and not any(m.get("caption") for m in got[:2])
    wall = vk.wall(VK_GID)
    assert len(wall) == 1 and wall[0]["text"] == text and len(wall[0]["attachments"]) == 2
    assert len(ok.topics_of(OK_GID)) == 1
    assert len(mx.received(MAX_CHAT)) == 1
    # and the content accounting counts the four copies as the participant's posts published through the app
    db.session.rollback()
    rows = db.session.query(Delivery).all()
    assert {d.state for d in rows} == {"published"} and all(d.post_id for d in rows)
    assert db.session.query(Post).filter(Post.source == "app").count() == 4
