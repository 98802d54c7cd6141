"""An account's address as pasted by a person → (network, handle). No network call."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from app.services.accounts.platforms.base import PlatformError

NETWORK_NAMES = {"telegram": "Telegram", "vk": "ВКонтакте", "ok": "Одноклассники", "max": "MAX"}
HOSTS = {
    "telegram": ("t.me", "telegram.me", "telegram.dog"),
    "vk": ("vk.com", "vk.ru", "m.vk.com", "m.vk.ru", "vkontakte.ru"),
    "ok": ("ok.ru", "m.ok.ru", "odnoklassniki.ru"),
    "max": ("max.ru", "web.max.ru"),
}
TG_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
VK_SCREEN = re.compile(r"^[A-Za-z0-9_.]{2,64}$")
OK_NAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MAX_LINK = re.compile(r"^[A-Za-z0-9_.@-]{2,120}$")
HINT = ("Вставьте адрес канала или сообщества: https://t.me/имя или @имя, https://vk.com/имя, "
        "https://ok.ru/group/номер, https://max.ru/имя.")


def _wrong(text: str, why: str = "") -> PlatformError:
    shown = text.strip()[:80] or "пустой адрес"
    return PlatformError(f"«{shown}» — не адрес канала или сообщества в Telegram, ВКонтакте, Одноклассниках или "
                         f"MAX{why}. {HINT}", "wrong_network")


def _split(text: str) -> tuple[str, list[str]] | None:
    raw = text.strip()
    if not re.match(r"^[a-z][a-z0-9+.-]*://", raw, re.I):
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:
        return None
    host = host[4:] if host.startswith("www.") else host
    return host, [p for p in parts.path.split("/") if p]


def parse_address(text: str, network: str | None = None) -> tuple[str, str]:
    """`text` → (network, handle). Telegram: "t.me/name", "@name" → "name"; VK: "vk.com/club123" → "club123",
    "vk.com/name" → "name"; OK: "ok.ru/group/123" → "group/123", "ok.ru/name" → "name"; MAX: "max.ru/name" →
    "name". `network`, when the person chose one, must match. Anything else → PlatformError("wrong_network")."""
    if not isinstance(text, str) or not text.strip() or len(text) > 300:
        raise _wrong(text if isinstance(text, str) else "")
    text = text.strip()
    found: tuple[str, str] | None = None
    if text.startswith("@"):
        name = text[1:]
        if network == "max":
            if MAX_LINK.match(name):
                found = ("max", name)
        elif TG_USERNAME.match(name):
            found = ("telegram", name)
    else:
        split = _split(text)
        if split is None:
            raise _wrong(text)
        host, path = split
        net = next((n for n, hosts in HOSTS.items() if host in hosts), None)
        if net is None:
            raise _wrong(text)
        found = _handle(net, path, text)
    if found is None:
        raise _wrong(text, ": в адресе нет имени канала или сообщества")
    if network and network != found[0]:
        raise PlatformError(f"Это адрес в сети {NETWORK_NAMES[found[0]]}, а выбрана сеть "
                            f"{NETWORK_NAMES.get(network, network)}: выберите другую сеть или вставьте другой адрес.",
                            "wrong_network")
    return found


def _handle(net: str, path: list[str], text: str) -> tuple[str, str] | None:
    if not path:
        return None
    head = path[0]
    if net == "telegram":
        if head in ("joinchat",) or head.startswith("+"):
            raise PlatformError("Это ссылка-приглашение в закрытый канал или группу Telegram: её нельзя найти по "
                                "имени. Укажите публичный адрес канала (https://t.me/имя).", "private")
        if head == "s" and len(path) > 1:
            head = path[1]
        return ("telegram", head) if TG_USERNAME.match(head) else None
    if net == "vk":
        return ("vk", head) if VK_SCREEN.match(head) else None
    if net == "ok":
        if head == "group" and len(path) > 1 and path[1].isascii() and path[1].isdigit():
            return ("ok", f"group/{path[1]}")
        if head in ("profile",):
            raise PlatformError("Это страница человека в Одноклассниках, а нужна группа: вставьте адрес группы "
                                "(https://ok.ru/group/номер или https://ok.ru/имя).", "wrong_network")
        return ("ok", head) if OK_NAME.match(head) else None
    if net == "max":
        link = "/".join(path[:2]) if head == "join" and len(path) > 1 else head
        return ("max", link) if MAX_LINK.match(link.replace("/", "")) else None
    return None


def canonical_url(network: str, handle: str) -> str:
    return {"telegram": f"https://t.me/{handle}", "vk": f"https://vk.com/{handle}",
            "ok": f"https://ok.ru/{handle}", "max": f"https://max.ru/{handle}"}[network]
