"""The channel registry: network name → adapter. Adding a network means adding one module here."""
from __future__ import annotations

import importlib

from app.channels.base import ChannelAdapter

ADAPTERS = {
    "telegram": "app.channels.telegram:TelegramAdapter",
    "vk": "app.channels.vk:VkAdapter",
    "max": "app.channels.max:MaxAdapter",
    "ok": "app.channels.ok:OkAdapter",
    "web": "app.channels.web:WebAdapter",
    "api": "app.channels.web:ApiAdapter",
}
_cache: dict[str, ChannelAdapter] = {}


def get_adapter(network: str) -> ChannelAdapter:
    if network not in ADAPTERS:
        raise KeyError(network)
    if network not in _cache:
        module, _, cls = ADAPTERS[network].partition(":")
        _cache[network] = getattr(importlib.import_module(module), cls)()
    return _cache[network]
