"""The four platform fakes at once, and the app configured for them (participants' accounts, issue 12)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.fakes.max import FakeMax
from app.fakes.ok import FakeOk
from app.fakes.telegram import FakeTelegram
from app.fakes.vk import FakeVk
from app.services.accounts.platforms import Pacing

TG_TOKEN = "7012345678:AAH4-collect-token"
VK_TOKEN = "vk1.a.city-community-token"
VK_SERVICE = "vk-service-key-0123"
OK_TOKEN = "tkn1-ok-rest"
MAX_TOKEN = "max-bot-token"


@dataclass
class Nets:
    telegram: FakeTelegram
    vk: FakeVk
    ok: FakeOk
    max: FakeMax
    config: dict
    now: list  # [Unix time] the fakes' figures are computed at (tests move it: figures grow)

    def fake(self, network: str):
        return getattr(self, network)


class FakeClock:
    """A clock and a sleeper for the pacers: sleeping moves the clock, nothing waits."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def pace():
    clock = FakeClock()
    pacing = Pacing(clock=clock, sleep=clock.sleep)
    pacing.clock_ = clock
    return pacing


@pytest.fixture
def nets(app):
    with FakeTelegram(token=TG_TOKEN) as tg, FakeVk(token=VK_TOKEN) as vk, \
            FakeOk(token=OK_TOKEN, application_key="CBAFAKE", application_secret_key="s3cr3t") as ok, \
            FakeMax(token=MAX_TOKEN) as mx:
        vk.add_token(VK_SERVICE, kind="service")
        now = [1_795_000_000.0]
        for fake in (tg, vk, ok, mx):
            fake.audience.clock = lambda: now[0]
        config = {"TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_API_URL": tg.base_url,
                  "VK_ACCESS_TOKEN": VK_TOKEN, "VK_SERVICE_TOKEN": None, "VK_API_URL": vk.base_url,
                  "OK_REST_ACCESS_TOKEN": OK_TOKEN, "OK_APPLICATION_KEY": "CBAFAKE",
                  "OK_APPLICATION_SECRET_KEY": "s3cr3t", "OK_API_URL": ok.base_url,
                  "MAX_BOT_TOKEN": MAX_TOKEN, "MAX_API_URL": mx.base_url, "HTTP_TIMEOUT": 5}
        saved = {k: app.config.get(k) for k in config}
        app.config.update(config)
        try:
            yield Nets(tg, vk, ok, mx, config, now)
        finally:
            app.config.update(saved)
