"""Shared VK test setup: the app configured for a local fake of the VK API (Callback API secret, confirmation
string, community token). Registered in conftest's pytest_plugins."""
import pytest

from app.fakes.vk import FakeVk

GROUP = 218000777
SECRET = "vk-callback-secret-7f3a"
CONFIRM = "5e8b2f1c"
TOKEN = "vk1.a.community-token"


@pytest.fixture
def fake_vk():
    with FakeVk(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def vk_config(app, fake_vk):
    keys = ("VK_GROUP_ID", "VK_ACCESS_TOKEN", "VK_SECRET", "VK_CONFIRMATION", "VK_API_URL", "HTTP_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(VK_GROUP_ID=str(GROUP), VK_ACCESS_TOKEN=TOKEN, VK_SECRET=SECRET, VK_CONFIRMATION=CONFIRM,
                      VK_API_URL=fake_vk.base_url, HTTP_TIMEOUT=5)
    yield app.config
    app.config.update(saved)
