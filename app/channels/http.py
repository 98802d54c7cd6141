"""One httpx client per process for the channels' platform calls (acknowledgements, replies, bot answers).

`httpx.post(...)` builds a new client for every call: a new TLS context (loading the CA bundle, ≈ 20 ms on this
machine, bench/RESULTS.md «Приём сообщений») and a new connection. A delivery job sends many messages in a row,
so the process keeps one client (a connection pool, keep-alive to the platform) and reuses it. It holds no data,
only connections; a forked worker child builds its own (the pid is checked), so no socket crosses a fork.
"""
from __future__ import annotations

import os
import threading

import httpx

_lock = threading.Lock()
_client: httpx.Client | None = None
_pid: int | None = None


def client() -> httpx.Client:
    """The process's shared client (thread-safe: httpx.Client may be used from several threads)."""
    global _client, _pid
    if _client is None or _pid != os.getpid():
        with _lock:
            if _client is None or _pid != os.getpid():
                _client = httpx.Client(limits=httpx.Limits(max_connections=20, max_keepalive_connections=10))
                _pid = os.getpid()
    return _client


def post(url: str, **kwargs) -> httpx.Response:
    """`httpx.post` over the shared client (same arguments: data=, json=, params=, headers=, timeout=)."""
    return client().post(url, **kwargs)
