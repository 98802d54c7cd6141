"""Reads shared by every message of one triage batch, made once per batch instead of once per message.

A triage batch is one transaction (intake.triage_pending). Inside `scope()`, `memo(key, compute)` computes a value
the first time and returns it for the rest of the batch: the routing rules' and streets' version checks, the active
rubrics, a street's name. It lives only while the batch runs (a few seconds, then it is dropped), so it cannot go
stale the way a process cache could: the batch behaves as if it had read these once at its start. Outside a scope
(a web request, a test calling a function directly) every call computes, as before.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable

_memo: ContextVar[dict | None] = ContextVar("batch_memo", default=None)


@contextmanager
def scope():
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def memo(key: Any, compute: Callable[[], Any]) -> Any:
    found = _memo.get()
    if found is None:
        return compute()
    if key not in found:
        found[key] = compute()
    return found[key]


def peek(key: Any) -> Any:
    """What `memo` holds under `key` in this scope, or None (nothing is computed)."""
    found = _memo.get()
    return None if found is None else found.get(key)


def active() -> bool:
    return _memo.get() is not None
