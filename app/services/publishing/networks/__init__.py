"""The networks' publishing modules behind one interface (see base.py): `module(network)`."""
from __future__ import annotations

import importlib
from types import ModuleType

from app.services.publishing.networks.base import Channel, PhotoFile, PublishError, Rights, Sent

__all__ = ["Channel", "PhotoFile", "PublishError", "Rights", "Sent", "module", "NETWORKS"]

NETWORKS = ("telegram", "vk", "ok", "max")


def module(network: str) -> ModuleType:
    """The publishing module of `network` (telegram, vk, ok, max); KeyError for any other."""
    if network not in NETWORKS:
        raise KeyError(network)
    return importlib.import_module(f"app.services.publishing.networks.{network}")
