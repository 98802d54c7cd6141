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
# Networks the outbox delivers to that nothing comes in from (no webhook, not on /admin's list of networks).
OUTBOUND_ONLY = {
    "email": "app.channels.email:EmailAdapter",  # the head's weekly digest
}
_cache: dict[str, ChannelAdapter] = {}


def get_adapter(network: str, outbound: bool = False) -> ChannelAdapter:
    """The adapter of `network`; `outbound=True` (the outbox) also knows the outbound-only ones (e-mail)."""
    spec = ADAPTERS.get(network) or (OUTBOUND_ONLY.get(network) if outbound else None)
    if spec is None:
        raise KeyError(network)
    if network not in _cache:
        module, _, cls = spec.partition(":")
        _cache[network] = getattr(importlib.import_module(module), cls)()
    return _cache[network]
