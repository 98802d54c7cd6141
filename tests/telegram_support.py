"""Shared Telegram test setup: the app configured for a local fake Bot API, and the city bot's account.
Import the fixtures into a test module to use them."""
import pytest

from app.extensions import db
from app.fakes.telegram import FakeTelegram
from tests.factories import make_account, make_institution

TOKEN = "7012345678:AAH4-test-token_for-the-fake"
BOT_ID = "7012345678"
SECRET = "tg-webhook_secret-42"


@pytest.fixture
def fake_tg():
    with FakeTelegram(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def tg_config(app, fake_tg):
    keys = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_API_URL", "HTTP_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_SECRET=SECRET, TELEGRAM_API_URL=fake_tg.base_url,
                      HTTP_TIMEOUT=5)
    yield app.config
    app.config.update(saved)


@pytest.fixture
def bot_account(tg_config):
    """The city's bot itself, registered as the administration's account: private chats reach it."""
    acc = make_account(make_institution(name="Администрация г. Белогорск"), network="telegram")
    acc.external_id = BOT_ID
    db.session.flush()
    return acc
