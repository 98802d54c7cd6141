"""What each network will actually receive for one composed post, and what its limits change.

`plan_all(text, photos, networks, link_preview)` returns a `Plan` per network: the calls in order (`parts`, each
with its API method and its text), the warnings to show before publishing (sentences in the interface language, see
«Language» below; nothing is ever cut silently) and `refused` — a reason when the post cannot go to that network at
all.

Length is counted the way Telegram counts it: in UTF-16 code units (Bot API: "0-1024 characters after entities
parsing"; entity offsets are UTF-16). A Cyrillic letter is 1 unit, an emoji outside the BMP (😀) is 2, and an emoji
with a variation selector or a ZWJ sequence is more. We count every network this way: for VK, OK and MAX the
counting rule is not documented, and UTF-16 never counts fewer than code points, so it is the cautious choice.

The text is stripped of leading and trailing whitespace (Telegram does the same). A long text is split at a
paragraph break, else a line break, else the end of a sentence, else a space, else — a single «word» longer than
the limit — at the limit itself; the whitespace at a split point is dropped, every other character is kept in
order.

Language: the sentences are written in Russian (the source language) and marked for translation. Inside a Flask app
whose interface is another language (a request, or an app context with LANGUAGE=en) they come out translated
(flask_babel); with no app context — the unit tests, a script — or under the Russian interface they are the Russian
source, %-formatted, with the Russian plural forms. So the preview follows the interface language, and a reason the
delivery engine stores (Delivery.last_error) is in the language of the process that made it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import flask_babel

# ---------------------------------------------------------------------------------------------------------------
# Limits, all in one place. Lengths are in UTF-16 code units (see the module docstring).
# ---------------------------------------------------------------------------------------------------------------
# Telegram Bot API (core.telegram.org/bots/api): sendMessage text 1-4096 characters; sendPhoto / sendMediaGroup
# caption 0-1024 characters; sendMediaGroup takes 2-10 items; sendPhoto: "the photo must be at most 10 MB".
# The same figures are python-telegram-bot's constants MAX_MESSAGE_LENGTH, MAX_CAPTION_LENGTH, MAX_PHOTOSIZE_UPLOAD.
TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024
TELEGRAM_ALBUM_MAX = 10
TELEGRAM_PHOTO_BYTES = 10 * 1024 * 1024
# VK wall.post: the method page (dev.vk.com/method/wall.post) states no length for `message`; 16,384 is the figure
# commonly cited by VK developers — UNVERIFIED against an official source. 10 attachments per post: VK's error
# «нельзя прикреплять более 10 прикреплений» (widely reported). VK has no multi-part post: a longer text is refused.
VK_TEXT_LIMIT = 16384
VK_PHOTOS_MAX = 10
# OK mediatopic.post: apiok.ru gives no text limit we could find — UNVERIFIED. 4,000 is a conservative figure of our
# own (the smallest limit among the other networks' single messages); the photo count limit is likewise not
# documented where we looked: we allow the compose form's 10.
OK_TEXT_LIMIT = 4000
OK_PHOTOS_MAX = 10
# MAX POST /messages: text ≤ 4000 characters (green-api.com MAX Bot API docs — a third-party source; PLATFORM-NOTES
# §1); up to 12 media attachments per message (xonta-max validator, third-party); an image ≤ 50 MB
# (dev.max.ru/docs-api/use-cases/sending-messages/attachment-types).
MAX_TEXT_LIMIT = 4000
MAX_PHOTOS_MAX = 12
MAX_PHOTO_BYTES = 50 * 1024 * 1024
# Link previews: Telegram `link_preview_options.is_disabled` (Bot API); MAX `disable_link_preview`, a query parameter
# of POST /messages inherited from TamTam (tamtam-chat/tamtam-bot-api-schema v0.1.10); VK — one link may be passed
# in wall.post `attachments` (dev.vk.com/method/wall.post); OK — a `{"type": "link", "url": …}` media item of
# mediatopic.post: UNVERIFIED (not found in apiok.ru pages we could reach).
# Photo formats: VK's wall photo upload and OK's photo upload take JPG, PNG and GIF (the networks' own error
# sentences in networks/vk.py and networks/ok.py say so; VK's photos.getWallUploadServer page lists the same) — a
# WebP is refused beforehand for them instead of failing after forty minutes of retries.
NO_WEBP = ("image/webp",)
# The compose form (issue 13 item 1) allows up to 10 photos; more is refused for every network.
COMPOSE_PHOTOS_MAX = 10

NETWORKS = ("telegram", "vk", "ok", "max")
NETWORK_NAMES = {"telegram": "Telegram", "vk": "ВКонтакте", "ok": "Одноклассники", "max": "MAX"}  # Russian source
SOURCE_LANGUAGE = "ru"

_URL = re.compile(r"https?://[^\s<>\"«»]+", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…][\"»”)\]]*\s+")


@dataclass(frozen=True)
class Photo:
    """One attached photo: its size in bytes and content type when known (the plan checks what it can)."""
    size: int | None = None
    content_type: str | None = None


@dataclass
class Part:
    """One call to the network, in the order they will be made."""
    method: str
    text: str = ""
    photos: int = 0
    options: dict = field(default_factory=dict)


@dataclass
class Plan:
    network: str
    parts: list[Part] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refused: str | None = None
    link_preview: str = ""  # what the link-preview switch does on this network, in words


def _translating() -> bool:
    """True inside a Flask app whose interface language is not the source (Russian) one."""
    try:
        locale = flask_babel.get_locale()
    except Exception:  # noqa: BLE001 — an app without Flask-Babel: the source language
        return False
    return locale is not None and locale.language != SOURCE_LANGUAGE


def _(message: str, **params) -> str:
    """`message` (Russian) in the interface language, %-formatted with `params`; the Russian source when there is
    no app context or the interface is Russian (see the module docstring)."""
    if _translating():
        try:
            return flask_babel.gettext(message, **params)
        except (KeyError, ValueError, TypeError):  # a broken translation: the source rather than a 500
            pass
    return message % params if params else message


def ngettext(singular: str, plural: str, num: int, **params) -> str:
    """The form for `num` (available as %(num)s). Russian source forms: `singular` for 1, 21, 31… (not 11), `plural`
    for every other number — the sentences here need only these two (фото is indeclinable)."""
    if _translating():
        try:
            return flask_babel.ngettext(singular, plural, num, **params)
        except (KeyError, ValueError, TypeError):
            pass
    form = singular if num % 10 == 1 and num % 100 != 11 else plural
    return form % {"num": num, **params}


def network_name(network: str) -> str:
    """The network's name in the interface language («ВКонтакте» is «VK» in English)."""
    return _(NETWORK_NAMES[network]) if network in NETWORK_NAMES else network


def network_names() -> dict[str, str]:
    """{network: name in the interface language} for the templates."""
    return {network: network_name(network) for network in NETWORK_NAMES}


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (a character outside the BMP, e.g. 😀, counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def _fits(text: str, limit: int) -> int:
    """The number of code points of `text` that fit in `limit` UTF-16 units (never splits a character)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _cut(window: str) -> int:
    """Where to end a part inside `window` (which is as long as fits): the best boundary, never 0.

    A paragraph break, a line break or a sentence end counts only in the second half of the window (a split there
    does not leave a stub of a message); a space anywhere; a hard cut at the limit as the last resort.
    """
    half = len(window) // 2
    for separator in ("\n\n", "\n"):
        position = window.rfind(separator)
        if position > half:
            return position
    ends = [match.end() for match in _SENTENCE_END.finditer(window)]
    if ends and ends[-1] > half:
        return ends[-1]
    for position in range(len(window) - 1, 0, -1):
        if window[position].isspace():
            return position
    return len(window)


def split_text(text: str, limit: int) -> list[str]:
    """`text` (stripped) in parts of at most `limit` UTF-16 units each, split at the best boundary available."""
    rest = text.strip()
    parts = []
    while utf16_len(rest) > limit:
        window = rest[:_fits(rest, limit)]
        if len(window) < len(rest) and rest[len(window)].isspace():
            cut = len(window)  # the limit falls exactly on whitespace: a perfect boundary
        else:
            cut = _cut(window)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _number(value: int) -> str:
    return f"{value:,}".replace(",", "\u00a0")


def _normalise_photos(photos: int | Sequence[Photo] | None) -> list[Photo]:
    if photos is None:
        return []
    if isinstance(photos, int):
        return [Photo() for _ in range(max(photos, 0))]
    return list(photos)


def _too_big(photos: list[Photo], limit: int, network: str) -> str | None:
    for number, photo in enumerate(photos, start=1):
        if photo.size is not None and photo.size > limit:
            return _("Фото №%(number)s весит %(size)s МБ, а %(network)s принимает фото до %(limit)s МБ: уменьшите "
                     "его или уберите из поста.", number=number, size=f"{photo.size / 1024 / 1024:.1f}",
                     network=network_name(network), limit=limit // 1024 // 1024)
    return None


def _first_link(text: str) -> str | None:
    match = _URL.search(text)
    return match.group(0).rstrip(".,;:!?)") if match else None


def _plan_telegram(text: str, photos: list[Photo], link_preview: bool) -> Plan:
    plan = Plan("telegram")
    if len(photos) > TELEGRAM_ALBUM_MAX:
        plan.refused = ngettext("В Telegram альбом — не больше %(max)s фото, а выбрано %(num)s: уберите лишние фото.",
                                "В Telegram альбом — не больше %(max)s фото, а выбрано %(num)s: уберите лишние фото.",
                                len(photos), max=TELEGRAM_ALBUM_MAX)
        return plan
    if (reason := _too_big(photos, TELEGRAM_PHOTO_BYTES, "telegram")):
        plan.refused = reason
        return plan
    text_messages: list[str] = []
    if photos:
        method = "sendPhoto" if len(photos) == 1 else "sendMediaGroup"
        if utf16_len(text) <= TELEGRAM_CAPTION_LIMIT:
            plan.parts.append(Part(method, text, len(photos)))
        else:
            plan.parts.append(Part(method, "", len(photos)))
            text_messages = split_text(text, TELEGRAM_TEXT_LIMIT)
            plan.warnings.append(ngettext("Текст длиннее %(limit)s символов: уйдёт отдельным сообщением после фото.",
                                          "Текст длиннее %(limit)s символов: уйдёт отдельным сообщением после фото.",
                                          len(photos), limit=_number(TELEGRAM_CAPTION_LIMIT)))
    elif text:
        text_messages = split_text(text, TELEGRAM_TEXT_LIMIT)
    for chunk in text_messages:
        plan.parts.append(Part("sendMessage", chunk, 0, {"link_preview_options": {"is_disabled": not link_preview}}))
    if len(text_messages) > 1:
        plan.warnings.append(ngettext(
            "Текст длиннее %(limit)s символов: уйдёт %(num)s сообщением подряд, разрезанным по абзацам, предложениям "
            "или словам.",
            "Текст длиннее %(limit)s символов: уйдёт %(num)s сообщениями подряд, разрезанным по абзацам, предложениям "
            "или словам.",
            len(text_messages), limit=_number(TELEGRAM_TEXT_LIMIT)))
    if not text_messages:
        plan.link_preview = _("В подписи к фото Telegram превью ссылок не показывает.")
    elif link_preview:
        plan.link_preview = _("Telegram сам покажет карточку первой ссылки под текстом "
                              "(link_preview_options.is_disabled = false).")
    else:
        plan.link_preview = _("Превью ссылок выключено (link_preview_options.is_disabled = true).")
    return plan


def _plan_single_post(network: str, method: str, text: str, photos: list[Photo], link_preview: bool,
                      text_limit: int, photos_max: int) -> Plan:
    """VK and OK: one post carries the whole text and all photos; a text over the limit is refused."""
    plan = Plan(network)
    name = network_name(network)
    if len(photos) > photos_max:
        plan.refused = ngettext("В %(network)s к посту можно приложить не больше %(max)s фото, а выбрано %(num)s.",
                                "В %(network)s к посту можно приложить не больше %(max)s фото, а выбрано %(num)s.",
                                len(photos), network=name, max=photos_max)
        return plan
    webp = [number for number, photo in enumerate(photos, start=1) if photo.content_type in NO_WEBP]
    if webp:
        plan.refused = (f"{name} не принимает фото в формате WebP (фото №{', '.join(map(str, webp))}): сохраните "
                        "его как JPG или PNG или не выбирайте этот аккаунт.")
        return plan
    length = utf16_len(text)
    if length > text_limit:
        plan.refused = _("Текст длиннее %(limit)s символов (%(length)s), а %(network)s не делит пост на части: "
                         "сократите текст или не выбирайте этот аккаунт.",
                         limit=_number(text_limit), length=_number(length), network=name)
        return plan
    link = _first_link(text) if link_preview else None
    options = {}
    if link:
        options = {"attachments": ["link"], "link": link} if network == "vk" else {"media": ["link"], "link": link}
    plan.parts.append(Part(method, text, len(photos), options))
    if not _first_link(text):
        plan.link_preview = _("В тексте нет ссылок.")
    elif link and network == "vk":
        plan.link_preview = _("Первая ссылка (%(link)s) уйдёт вложением wall.post, и ВКонтакте сам построит её "
                              "карточку (сайт загружает ВКонтакте, не наше приложение).", link=link)
    elif link:
        plan.link_preview = _("Первая ссылка (%(link)s) уйдёт в mediatopic.post как вложение «link», и "
                              "Одноклассники сами построят её карточку.", link=link)
    else:
        plan.link_preview = _("Превью ссылок выключено: ссылки останутся только в тексте.")
    return plan


def _plan_max(text: str, photos: list[Photo], link_preview: bool) -> Plan:
    plan = Plan("max")
    if len(photos) > MAX_PHOTOS_MAX:
        plan.refused = ngettext("В MAX к сообщению можно приложить не больше %(max)s фото, а выбрано %(num)s.",
                                "В MAX к сообщению можно приложить не больше %(max)s фото, а выбрано %(num)s.",
                                len(photos), max=MAX_PHOTOS_MAX)
        return plan
    if (reason := _too_big(photos, MAX_PHOTO_BYTES, "max")):
        plan.refused = reason
        return plan
    chunks = split_text(text, MAX_TEXT_LIMIT) or [""]
    options = {"disable_link_preview": not link_preview}
    for index, chunk in enumerate(chunks):
        plan.parts.append(Part("POST /messages", chunk, len(photos) if index == 0 else 0, dict(options)))
    if len(chunks) > 1:
        plan.warnings.append(ngettext("Текст длиннее %(limit)s символов: в MAX уйдёт %(num)s сообщением подряд, "
                                      "фото — в первом.",
                                      "Текст длиннее %(limit)s символов: в MAX уйдёт %(num)s сообщениями подряд, "
                                      "фото — в первом.",
                                      len(chunks), limit=_number(MAX_TEXT_LIMIT)))
    plan.link_preview = (_("MAX сам покажет превью первой ссылки.") if link_preview
                         else _("Превью ссылок выключено (disable_link_preview = true)."))
    return plan


def plan_for(network: str, text: str, photos: int | Sequence[Photo] | None = None,
             link_preview: bool = True) -> Plan:
    """The plan of one composed post for one network (see the module docstring)."""
    if network not in NETWORKS:
        raise ValueError(f"unknown network: {network!r}")
    text = (text or "").strip()
    photo_list = _normalise_photos(photos)
    if not text and not photo_list:
        return Plan(network, refused=_("Пост пуст: добавьте текст или хотя бы одно фото."))
    if len(photo_list) > COMPOSE_PHOTOS_MAX:
        return Plan(network, refused=ngettext(
            "К посту можно приложить не больше %(max)s фото, а выбрано %(num)s: уберите лишние.",
            "К посту можно приложить не больше %(max)s фото, а выбрано %(num)s: уберите лишние.",
            len(photo_list), max=COMPOSE_PHOTOS_MAX))
    if network == "telegram":
        return _plan_telegram(text, photo_list, link_preview)
    if network == "vk":
        return _plan_single_post("vk", "wall.post", text, photo_list, link_preview, VK_TEXT_LIMIT, VK_PHOTOS_MAX)
    if network == "ok":
        return _plan_single_post("ok", "mediatopic.post", text, photo_list, link_preview, OK_TEXT_LIMIT, OK_PHOTOS_MAX)
    return _plan_max(text, photo_list, link_preview)


def plan_all(text: str, photos: int | Sequence[Photo] | None, networks: Iterable[str],
             link_preview: bool = True) -> dict[str, Plan]:
    """{network: plan} for every chosen network, in the order given (duplicates once)."""
    return {network: plan_for(network, text, photos, link_preview) for network in dict.fromkeys(networks)}
