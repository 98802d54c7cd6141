"""A live server on loopback with committed data, and Debian's Chromium driven by Playwright."""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.extensions import db
from tests.support import wipe_tables

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def live_server(app):
    """The app served on 127.0.0.1 with CSRF on (as in production); tables are wiped afterwards."""
    app.config.update(WTF_CSRF_ENABLED=True, QUEUE_POLL_SECONDS=1)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        app.config.update(WTF_CSRF_ENABLED=False, QUEUE_POLL_SECONDS=10)
        db.session.rollback()
        wipe_tables()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (make test does it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A page whose console is watched: any Content Security Policy violation (an inline script, style or
    handler the app's CSP blocks) or script error fails the test after it ran."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(locale="ru-RU", viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda msg: problems.append(f"{msg.type}: {msg.text}")
          if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text else None)
    pg.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    pg.csp_problems = problems
    yield pg
    context.close()
    assert not problems, problems
