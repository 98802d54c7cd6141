"""What every platform module shares: the error, the answers, the pacing of calls per token, HTTP helpers.

A platform module never touches the database: it takes plain `Target`s (an account's id, external id, handle
and decrypted token) and returns `Figures` or raises `PlatformError`, so the collection can run the networks in
threads and write the results in one place.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import httpx

log = logging.getLogger(__name__)
KINDS = ("wrong_network", "not_found", "private", "no_rights", "bad_token", "rate_limited", "unavailable",
         "garbage")
RETRIES = 3  # a rate-limited call is tried again at most this many times
MAX_WAIT = 60.0  # seconds: a longer retry_after is not waited out, the account is marked instead
# Calls are paced to this share of a platform's limit: requests reach the platform with some jitter (connection
# pool, network), and the platform counts what arrives in a second.
SAFETY = 0.85


class PlatformError(Exception):
    """What a platform said, for a person: `message` is a Russian sentence naming what happened and what to do;
    `kind` one of KINDS; `retry_after` the seconds the platform asked us to wait (rate limits), else None.
    `code` / `platform_message`: the platform's own error code and text when it answered one (VK, OK)."""

    code: int | None = None
    platform_message: str = ""

    def __init__(self, message: str, kind: str = "unavailable", retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind if kind in KINDS else "unavailable"
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message


@dataclass
class Resolved:
    """An account as its platform describes it (shown to staff to confirm before saving)."""
    network: str
    external_id: str
    handle: str
    url: str
    title: str
    followers: int | None = None
    avatar_url: str | None = None


@dataclass
class PostFigures:
    """One recent post with the metrics the platform gives (None: not given)."""
    external_id: str
    published_at: datetime
    text: str = ""
    permalink: str | None = None
    media_count: int = 0
    views: int | None = None
    reactions: int | None = None
    comments: int | None = None
    reposts: int | None = None


@dataclass
class Figures:
    """One collection of an account: subscribers, the platform's post total (None: no API gives it) and the
    recent posts."""
    followers: int
    posts_total: int | None = None
    posts: list[PostFigures] = field(default_factory=list)
    avatar_url: str | None = None
    title: str | None = None


@dataclass(frozen=True)
class Target:
    """What a platform module needs of an account (no ORM object crosses a thread)."""
    account_id: int
    network: str
    external_id: str
    handle: str = ""
    token: str | None = None  # the account's own token (VK community, OK group), decrypted


# --- pacing: one schedule per token, shared by every thread of the process ---------------------------------
class Pacer:
    """At most SAFETY × `rate` calls in any second, counted when they leave: a caller takes a place in the
    sliding one-second window or waits for the oldest call to leave it (a late wake-up cannot make a burst). The
    clock and the sleeper are injectable (tests never sleep)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, *, key: str = "", shared: SharedWindow | None = None):
        self.rate, self.key, self.shared = rate, key, shared
        self.per_second = max(1, int(rate * SAFETY)) if rate > 0 else 0
        self.clock, self.sleep = clock, sleep
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds of waiting so far (the benchmark reports it)
        self.calls = 0
        self.busiest = 0  # the most calls that left within one second

    def reserve(self) -> float:
        """Take a place now (returns 0) or say how long to wait before asking again."""
        with self._lock:
            now = self.clock()
            if now < self._blocked_until:
                return self._blocked_until - now
            if self.per_second:
                while self._sent and now - self._sent[0] >= 1.0:
                    self._sent.popleft()
                if len(self._sent) >= self.per_second:
                    return max(1.0 - (now - self._sent[0]), 0.001)
                if self.shared is not None:  # other processes on the same token (RQ workers, the CLI)
                    wait = self.shared.take(self.key, self.per_second)
                    if wait > 0:
                        return wait
                self._sent.append(now)
                self.busiest = max(self.busiest, len(self._sent))
            self.calls += 1
            return 0.0

    def push_back(self, seconds: float) -> None:
        """The platform said «wait»: nobody on this token calls before `seconds` from now."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)

    def wait(self) -> None:
        while (delay := self.reserve()) > 0:
            self.waited += delay
            self.sleep(delay)

    async def await_turn(self) -> None:
        while (delay := self.reserve()) > 0:
            self.waited += delay
            if self.sleep is time.sleep:
                await asyncio.sleep(delay)
            else:
                self.sleep(delay)  # an injected sleeper (tests)


class SharedWindow:
    """The same sliding one-second window per token kept in Redis, so processes on one token (RQ workers, the
    CLI) share it: a sorted set of the calls of the last second, checked and added to in one Lua script. The time
    is the callers' wall clock (`clock`); if Redis fails, each process keeps to its own window (logged once)."""

    SCRIPT = """
local key, now, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 1)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(math.max(1 - (now - tonumber(oldest[2])), 0.001))
end
redis.call('ZADD', key, now, member)
redis.call('PEXPIRE', key, 2000)
return '0'
"""

    def __init__(self, redis, clock: Callable[[], float] = time.time, prefix: str = "om:pace:"):
        self.redis, self.clock, self.prefix = redis, clock, prefix
        self._script = redis.register_script(self.SCRIPT)
        self._failed = False

    def take(self, key: str, limit: int) -> float:
        now = self.clock()
        try:
            return float(self._script(keys=[self.prefix + key], args=[repr(now), limit,
                                                                      f"{now!r}:{uuid.uuid4().hex[:8]}"]))
        except Exception:  # noqa: BLE001 — Redis away: the process's own window still holds
            if not self._failed:
                log.warning("shared pacing unavailable (Redis): each process paces on its own", exc_info=True)
                self._failed = True
            return 0.0


class Pacing:
    """The pacers of one process (or of one test), one per (network, token); with `share(redis)` their windows
    are kept in Redis too."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.clock, self.sleep = clock, sleep
        self.shared: SharedWindow | None = None
        self._pacers: dict[str, Pacer] = {}
        self._lock = threading.Lock()

    def share(self, redis, clock: Callable[[], float] = time.time) -> None:
        """Keep every token's window in Redis as well (once per process; later calls change nothing)."""
        with self._lock:
            if self.shared is None:
                self.shared = SharedWindow(redis, clock)
                for pacer in self._pacers.values():
                    pacer.shared = self.shared

    def for_token(self, network: str, token: str | None, rate: float) -> Pacer:
        key = f"{network}:{hashlib.sha256((token or '').encode()).hexdigest()[:16]}"
        with self._lock:
            if key not in self._pacers:
                self._pacers[key] = Pacer(rate, self.clock, self.sleep, key=key, shared=self.shared)
            return self._pacers[key]

    @property
    def pacers(self) -> dict[str, Pacer]:
        return dict(self._pacers)


PACING = Pacing()  # the process's own: the collection and the staff pages share it


def retrying(call: Callable[[], Any], pacer: Pacer, max_wait: float = MAX_WAIT) -> Any:
    """`call()` after waiting for the token's turn; a rate-limited answer (429, VK 6, Telegram retry_after) is
    waited out and tried again, at most RETRIES times and never longer than `max_wait` (a longer wait is raised)."""
    for attempt in range(RETRIES + 1):
        pacer.wait()
        try:
            return call()
        except PlatformError as exc:
            if exc.kind != "rate_limited" or attempt == RETRIES or (exc.retry_after or 0) > max_wait:
                raise
            pacer.push_back(exc.retry_after or 1.0)
    raise AssertionError("unreachable")


# --- HTTP ------------------------------------------------------------------------------------------------
def timeout(config: dict) -> float:
    return float(config.get("HTTP_TIMEOUT") or 10)


def retry_after_header(resp: httpx.Response, default: float = 1.0) -> float:
    try:
        return max(float(resp.headers.get("Retry-After") or default), 0.0)
    except ValueError:
        return default


def json_body(resp: httpx.Response, platform: str) -> Any:
    """The answer's JSON, or PlatformError("garbage") for what is not JSON."""
    try:
        return resp.json()
    except ValueError:
        raise PlatformError(f"{platform} ответил не JSON (HTTP {resp.status_code}): повторим при следующем сборе; "
                            "если повторяется — сообщите администратору.", "garbage") from None


def transport_error(exc: Exception, platform: str) -> PlatformError:
    what = "не ответил вовремя" if isinstance(exc, httpx.TimeoutException) else "недоступен"
    return PlatformError(f"{platform} {what} ({exc.__class__.__name__}): повторим при следующем сборе.",
                         "unavailable")


def status_error(resp: httpx.Response, platform: str) -> PlatformError | None:
    """HTTP 429 and 5xx as PlatformError, else None."""
    if resp.status_code == 429:
        return PlatformError(f"{platform} просит подождать (HTTP 429).", "rate_limited",
                             retry_after_header(resp))
    if resp.status_code >= 500:
        return PlatformError(f"{platform} ответил ошибкой сервера HTTP {resp.status_code}: повторим при "
                             "следующем сборе.", "unavailable")
    return None


def as_int(value: Any) -> int | None:
    """A non-negative integer from a platform's answer (an int or ASCII digits), else None. Never raises: «²»
    or «١٢» pass str.isdigit() but not int()."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


COUNT_MAX = 2**31 - 1  # the figures' columns are PostgreSQL `integer`


def as_count(value: Any) -> int | None:
    """A subscriber, post or metric count: as_int, and None above COUNT_MAX (a platform's nonsense is marked on
    its account as «no number», never a row the database refuses)."""
    n = as_int(value)
    return n if n is not None and n <= COUNT_MAX else None


def clip(text: Any, limit: int) -> str:
    return str(text or "")[:limit]
