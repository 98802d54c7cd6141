"""What a resident sent besides text, named the same way for every network: one place for the summary of a
message whose only content is an attachment («[голосовое сообщение 0:12]», «[геометка: ул. Кирова, 35]»,
«[документ: акт.pdf]»), for a place's map link, for forwarded text and for what counts as an appeal.

Adapters build `Attachment`s with the helpers here; intake and the ticket page read the stored dicts
(`Attachment.as_dict()`) through `describe()` / `summary()`, which accept either form.
"""
from __future__ import annotations

from typing import Any, Iterable

from app.channels.base import Attachment

# The kind's name in a summary (stored Russian text, like the ticket's summary itself).
LABELS = {
    "photo": "фото",
    "document": "документ",
    "video": "видео",
    "voice": "голосовое сообщение",
    "audio": "аудио",
    "sticker": "стикер",
    "location": "геометка",
    "contact": "контакт",
    "link": "ссылка",
    "repost": "репост",
    "poll": "опрос",
    "other": "вложение",
}
# Kinds that are not an appeal on their own (a sticker says what its emoji says).
NOT_CONTENT = frozenset({"sticker", "reaction"})
FORWARDED = "Переслано"
SUMMARY_ITEMS = 3  # attachments named in a summary; more are counted
DETAIL_LIMIT = 120


def map_url(latitude: float, longitude: float) -> str:
    """A map with a pin at the point (Yandex Maps: `pt` is longitude,latitude)."""
    return f"https://yandex.ru/maps/?pt={longitude:.6f},{latitude:.6f}&z=17&l=map"


def coordinates(latitude: Any, longitude: Any) -> tuple[float, float] | None:
    """Valid (latitude, longitude) from a payload's numbers or numeric strings, else None."""
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or lat != lat or lon != lon:
        return None
    return lat, lon


def location(latitude: Any, longitude: Any, *, title: str | None = None, address: str | None = None,
             ref: str | None = None) -> Attachment | None:
    """A place the resident sent (a pin, or a venue with its title and address), with its map link."""
    point = coordinates(latitude, longitude)
    if point is None:
        return None
    lat, lon = point
    return Attachment(kind="location", file_id=ref or f"geo:{lat:.6f},{lon:.6f}", name=_clean(title),
                      address=_clean(address), latitude=lat, longitude=lon, url=map_url(lat, lon))


def contact(name: str | None, phone: str | None, *, own: bool = False, ref: str | None = None) -> Attachment | None:
    """A shared contact card. `own`: the sender shared their own contact (it may become the resident's phone)."""
    name, phone = _clean(name), _clean(phone)
    if not name and not phone:
        return None
    return Attachment(kind="contact", file_id=ref or f"contact:{phone or name}", name=name, phone=phone,
                      own=True if own else None)


def forwarded(text: str | None) -> str:
    """Forwarded or quoted text as part of the appeal, marked as such."""
    text = (text or "").strip()
    return f"{FORWARDED}: {text}" if text else ""


def join_text(*parts: str | None) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def duration(seconds: Any) -> str:
    """0:12, 12:05, 1:02:03."""
    try:
        total = int(seconds)
    except (TypeError, ValueError):
        return ""
    if total < 0:
        return ""
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _clean(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT - 1].rstrip() + "…"


def detail(item: Any) -> str:
    """What distinguishes this attachment from others of its kind: a file's name, a place's address, a
    contact's name and phone, a link's title or address."""
    kind = _get(item, "kind")
    name = _clean(_get(item, "name"))
    if kind == "location":
        place = ", ".join(p for p in (name, _clean(_get(item, "address"))) if p)
        if place:
            return short(place)
        lat, lon = _get(item, "latitude"), _get(item, "longitude")
        return f"{float(lat):.5f}, {float(lon):.5f}" if coordinates(lat, lon) else ""
    if kind == "contact":
        return short(", ".join(p for p in (name, _clean(_get(item, "phone"))) if p))
    if kind in ("link", "repost"):
        return short(name or _clean(_get(item, "text")) or _clean(_get(item, "url")) or "")
    if kind == "sticker":
        return ""
    return short(name) if name else ""


def describe(item: Any) -> str:
    """«голосовое сообщение 0:12», «документ: акт.pdf», «геометка: ул. Кирова, 35»."""
    kind = _get(item, "kind") or "other"
    label = LABELS.get(kind, LABELS["other"])
    text = f"{label}: {detail(item)}" if detail(item) else label
    length = duration(_get(item, "duration")) if kind in ("voice", "audio", "video") else ""
    return f"{text} {length}" if length else text


def summary(text: str | None, attachments: Iterable[Any] = ()) -> str:
    """A ticket's summary: the resident's text, else what they sent, named."""
    text = (text or "").strip()
    if text:
        return text
    items = list(attachments or [])
    named = " ".join(f"[{describe(a)}]" for a in items[:SUMMARY_ITEMS])
    more = len(items) - SUMMARY_ITEMS
    return f"{named} [ещё {more}]" if more > 0 else named


def is_content(attachments: Iterable[Any]) -> bool:
    """Whether the attachments make a message something to look at (an appeal if nothing else says no):
    a sticker alone does not."""
    return any((_get(a, "kind") or "other") not in NOT_CONTENT for a in attachments or [])


def place_of(attachments: Iterable[Any]) -> dict | None:
    """The first location among the attachments: {latitude, longitude, text} for the ticket's place."""
    for a in attachments or []:
        if _get(a, "kind") == "location" and coordinates(_get(a, "latitude"), _get(a, "longitude")):
            return {"latitude": float(_get(a, "latitude")), "longitude": float(_get(a, "longitude")),
                    "text": detail(a) or None}
    return None
