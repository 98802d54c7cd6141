"""Figures that move, for the fakes' statistics methods (subscribers, post totals, recent posts).

Every account's figures are derived from its id (the same id → the same figures) and grow slowly with time; the
demo and the tests can tell a fake an account's current figures (`Audience.set`), which then grow from there —
so a seeded demo account collects numbers close to the seeded ones. `TROUBLES` are the ways a test can make one
account fail on every fake (`fake.trouble(external_id, "5xx")`).
"""
from __future__ import annotations

import hashlib
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Callable

EPOCH = 1_767_225_600  # 2026-01-01 00:00 UTC: derived figures start here
DAY = 86_400.0
TROUBLES = ("5xx", "garbage", "no_rights", "private", "deleted", "unknown", "429")


def _h(network: str, external_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{network}:{external_id}".encode()).digest()[:8], "big")


@dataclass
class Baseline:
    followers: float
    posts: float
    at: float  # Unix time the baseline holds at
    growth: float  # share of followers gained a day
    posts_per_day: float


def derived(network: str, external_id: str) -> Baseline:
    """The figures an id has at EPOCH and how fast they move (deterministic)."""
    h = _h(network, str(external_id))
    followers = 150 + h % 12_000
    growth = 0.0004 + (h >> 16) % 30 / 10_000  # 0.04 … 0.33 % a day
    per_day = 0.2 + (h >> 24) % 28 / 10  # 0.2 … 2.9 posts a day
    return Baseline(followers=followers, posts=40 + (h >> 32) % 900, at=EPOCH, growth=growth, posts_per_day=per_day)


class Audience:
    """The live figures of one fake's accounts."""

    def __init__(self, network: str, clock: Callable[[], float] = time.time):
        self.network = network
        self.clock = clock
        self._told: dict[str, Baseline] = {}
        self._lock = threading.Lock()

    def set(self, external_id, followers: int, posts: int | None = None, at: float | None = None) -> None:
        """The account has these figures now (or at `at`); they grow from there at the id's own pace."""
        base = derived(self.network, str(external_id))
        with self._lock:
            self._told[str(external_id)] = Baseline(
                followers=float(followers), posts=float(posts if posts is not None else base.posts),
                at=self.clock() if at is None else at, growth=base.growth, posts_per_day=base.posts_per_day)

    def baseline(self, external_id) -> Baseline:
        with self._lock:
            return self._told.get(str(external_id)) or derived(self.network, str(external_id))

    def followers(self, external_id) -> int:
        b = self.baseline(external_id)
        days = max(0.0, (self.clock() - b.at) / DAY)
        return int(b.followers * (1 + b.growth * days))

    def posts(self, external_id) -> int:
        b = self.baseline(external_id)
        days = max(0.0, (self.clock() - b.at) / DAY)
        return int(b.posts + b.posts_per_day * days)

    def recent(self, external_id, count: int) -> list[dict]:
        """The latest `count` posts: {"n", "date", "views", "likes", "comments", "reposts"}, newest first."""
        total = self.posts(external_id)
        b = self.baseline(external_id)
        now = self.clock()
        step = DAY / max(b.posts_per_day, 0.05)
        followers = self.followers(external_id)
        out = []
        for k in range(min(count, total)):
            n = total - k
            seed = _h(self.network, f"{external_id}/{n}")
            age = k * step + seed % 3600
            reach = followers * (0.15 + (seed % 40) / 100) * min(1.0, 0.3 + age / DAY)
            out.append({"n": n, "date": int(now - age), "views": int(reach),
                        "likes": int(reach * (0.01 + (seed >> 8) % 5 / 100)),
                        "comments": int(reach * ((seed >> 12) % 7) / 1000),
                        "reposts": int(reach * ((seed >> 16) % 4) / 1000)})
        return out


class Troubles:
    """Per-account failures a test asked for: `add(external_id, how, times)`; `take(external_id)` → how or None."""

    def __init__(self):
        self._rules: dict[str, list] = {}
        self._lock = threading.Lock()

    def add(self, external_id, how: str, times: int | None = None) -> None:
        if how not in TROUBLES:
            raise ValueError(f"unknown trouble {how!r}: one of {TROUBLES}")
        with self._lock:
            self._rules[str(external_id)] = [how, times]

    def peek(self, external_id) -> str | None:
        with self._lock:
            rule = self._rules.get(str(external_id))
            return rule[0] if rule else None

    def take(self, external_id) -> str | None:
        """The trouble for this request (counted down), or None."""
        with self._lock:
            rule = self._rules.get(str(external_id))
            if not rule:
                return None
            if rule[1] is not None:
                rule[1] -= 1
                if rule[1] <= 0:
                    del self._rules[str(external_id)]
            return rule[0]

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()


GARBAGE = b"<html><body>502 Bad Gateway</body></html>"


def avatar_png(seed, size: int = 48) -> bytes:
    """A small square PNG in a colour derived from `seed` (the fakes' avatars)."""
    h = _h("avatar", str(seed))
    rgb = bytes(((h >> 8 * i) & 0xFF) // 2 + 64 for i in range(3))
    raw = b"".join(b"\x00" + rgb * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
