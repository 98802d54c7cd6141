"""One interface over the networks whose figures we collect (one module each: telegram, vk, ok, max).

    network, handle = parse_address("https://vk.com/club123")       # no network call
    found = resolve("https://vk.com/club123", config)                # Resolved(title, external_id, followers…)
    rights = check_token("vk", found.external_id, token, config)     # «Ключ сообщества ВКонтакте: сообщения, …»
    figures = collect(target, config)                                 # Figures(followers, posts_total, posts)

Everything a platform refuses or garbles is a PlatformError with a Russian `message` (what happened and what to
do), a `kind` (wrong_network, not_found, private, no_rights, bad_token, rate_limited, unavailable, garbage) and
`retry_after`. Calls are paced per token (base.PACING, shared by the process; pass a Pacing of your own to inject
the clock and the sleeper). Settings: TELEGRAM_API_URL / TELEGRAM_BOT_TOKEN, VK_API_URL / VK_SERVICE_TOKEN /
VK_ACCESS_TOKEN, OK_API_URL / OK_APPLICATION_KEY / OK_APPLICATION_SECRET_KEY / OK_REST_ACCESS_TOKEN, MAX_API_URL /
MAX_BOT_TOKEN, HTTP_TIMEOUT.
"""
from __future__ import annotations

from app.services.accounts.platforms import max as max_
from app.services.accounts.platforms import ok, telegram, vk
from app.services.accounts.platforms.address import NETWORK_NAMES, canonical_url, parse_address
from app.services.accounts.platforms.base import (
    KINDS,
    PACING,
    Figures,
    Pacing,
    PlatformError,
    PostFigures,
    Resolved,
    Target,
)

__all__ = ["KINDS", "NETWORK_NAMES", "PACING", "Figures", "Pacing", "PlatformError", "PostFigures", "Resolved",
           "Target", "canonical_url", "check_token", "collect", "collect_many", "parse_address", "resolve"]

MODULES = {"telegram": telegram, "vk": vk, "ok": ok, "max": max_}
# Where the API gives no post total, an account's `posts` are the posts seen since it was connected.
POSTS_SEEN = ("telegram", "max")


def resolve(text: str, config: dict, *, network: str | None = None, token: str | None = None,
            pacing: Pacing = PACING) -> Resolved:
    """Find the account `text` names on its platform (the address as pasted). `token`: the account's own token
    (VK community, OK group) when the city's default cannot see it."""
    net, handle = parse_address(text, network)
    if net == "vk":
        return vk.resolve(handle, config, token, pacing)
    if net == "ok":
        return ok.resolve(handle, config, token, pacing)
    if net == "telegram":
        return telegram.resolve(handle, config, pacing)
    return max_.resolve(handle, config, pacing)


def check_token(network: str, external_id: str, token: str | None, config: dict, *, kind: str = "community",
                pacing: Pacing = PACING) -> str:
    """Check a token as it is saved; returns what it may do, in Russian (≤ 500 characters). Telegram and MAX use
    the city's bot: the answer says whether the bot administers the channel. A bad token → PlatformError
    ("bad_token")."""
    if network in ("vk", "ok") and not (token or "").strip():
        raise PlatformError("Ключ доступа пустой: вставьте ключ целиком.", "bad_token")
    if network == "vk":
        return vk.check_token(external_id, token.strip(), config, kind, pacing)
    if network == "ok":
        return ok.check_token(external_id, token.strip(), config, pacing)
    if network == "telegram":
        return telegram.check_token(external_id, config, pacing)
    if network == "max":
        return max_.check_token(external_id, config, pacing)
    raise PlatformError("Для этой сети ключи не нужны: статистика по ней не собирается.", "wrong_network")


def collect_many(network: str, targets: list[Target], config: dict, *, pacing: Pacing = PACING,
                 avatars: set[int] | None = None) -> dict:
    """account id → Figures or PlatformError, for accounts of one network (batched and paced per token).
    `avatars`: the account ids whose avatar is wanted (an extra call where the figures call has none)."""
    if network == "vk":
        return vk.collect_many(targets, config, pacing)
    module = MODULES.get(network)
    if module is None:
        return {t.account_id: PlatformError("Для этой сети статистика не собирается.", "wrong_network")
                for t in targets}
    return module.collect_many(targets, config, pacing, avatars)


def collect(target: Target, config: dict, *, pacing: Pacing = PACING, avatar: bool = False) -> Figures:
    """One account's figures, or PlatformError."""
    result = collect_many(target.network, [target], config, pacing=pacing,
                          avatars={target.account_id} if avatar else None)[target.account_id]
    if isinstance(result, PlatformError):
        raise result
    return result
