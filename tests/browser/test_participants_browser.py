"""The public directory in a real browser under the strict CSP: a resident on a phone finds a participant by its
direction and opens it (accounts, the growth chart); the embed variant inside an <iframe> of an allowed site."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]
pytest_plugins = ["tests.participants_support"]


def watched(browser, **options):
    """A page whose CSP violations and script errors are collected (as the `page` fixture does)."""
    context = browser.new_context(locale="ru-RU", **options)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda msg: problems.append(f"{msg.type}: {msg.text}")
          if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text else None)
    pg.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    return context, pg, problems


def test_a_resident_on_a_phone_finds_a_participant_by_direction(live_server, browser, network):
    ARTIFACTS.mkdir(exist_ok=True)
    context, page, problems = watched(browser, viewport={"width": 390, "height": 844}, is_mobile=True,
                                      has_touch=True, device_scale_factor=2)
    try:
        page.goto(f"{live_server}/participants")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Участники проекта")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
        page.screenshot(path=str(ARTIFACTS / "participants-phone.png"), full_page=True)
        page.get_by_role("navigation", name="Направления").get_by_role("link", name="Тест-Культура").click()
        expect(page.get_by_role("heading", name="Музей")).to_be_visible()
        expect(page.get_by_role("heading", name="Школа № 3")).to_have_count(0)
        page.get_by_role("link", name="Музей").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Музей")
        expect(page.get_by_role("link", name="Одноклассники")).to_have_attribute("href", "https://ok.ru/group/5500")
        expect(page.locator("figure.growth svg polyline")).to_have_count(1)  # one network: its line only
        page.goto(f"{live_server}/participants/t-school-3")
        expect(page.locator("figure.growth svg polyline.line-all")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.screenshot(path=str(ARTIFACTS / "participant-phone.png"), full_page=True)
        page.goto(f"{live_server}/participants")
        page.get_by_label("Поиск по названию").fill("школа")  # the search form: a plain GET
        page.get_by_role("button", name="Показать").click()
        expect(page.get_by_role("heading", name="Школа № 3")).to_be_visible()
        expect(page.get_by_role("heading", name="Музей")).to_have_count(0)
    finally:
        context.close()
    assert not problems, problems


class _Host(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802 — http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_the_embed_variant_inside_a_frame_of_an_allowed_site(live_server, browser, network, app):
    ARTIFACTS.mkdir(exist_ok=True)
    host = ThreadingHTTPServer(("127.0.0.1", 0), _Host)  # the city site: another origin, port from the OS
    origin = f"http://127.0.0.1:{host.server_port}"
    _Host.body = (f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Сайт города</title></head>'
                  f'<body><h1>Сайт города</h1><iframe title="Участники проекта" width="380" height="900" '
                  f'src="{live_server}/participants?embed=1"></iframe></body></html>').encode()
    threading.Thread(target=host.serve_forever, daemon=True).start()
    app.config["EMBED_ALLOWED_ORIGINS"] = origin
    context, page, problems = watched(browser, viewport={"width": 420, "height": 1000})
    try:
        page.goto(origin + "/")
        frame = page.frame_locator("iframe")
        expect(frame.get_by_role("heading", level=1)).to_contain_text("Участники проекта")
        expect(frame.locator("header.topbar")).to_have_count(0)  # no app header inside the city's page
        frame.get_by_role("link", name="Школа № 3").click()
        expect(frame.get_by_role("heading", level=1)).to_have_text("Школа № 3")
        expect(frame.locator("figure.growth svg")).to_be_visible()
        assert "embed=1" in page.frames[1].url  # the links keep the frame's variant
        page.screenshot(path=str(ARTIFACTS / "participants-embed.png"), full_page=True)
    finally:
        context.close()
        host.shutdown()
        app.config["EMBED_ALLOWED_ORIGINS"] = ""
    assert not problems, problems
