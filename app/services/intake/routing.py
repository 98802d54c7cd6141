"""Triage rules v1: is it noise, and which category (рубрика) do its words point to."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from app.channels import content
from app.extensions import db
from app.models import Category
from app.services import batchmemo
from app.services.text import has_words, normalise, prefixes, words

NOISE_LABELS = {
    "thanks": "Благодарность",
    "emoji": "Только эмодзи",
    "advertising": "Реклама",
    "empty": "Пустое сообщение",
    "command": "Команда боту",
    "triage_failed": "Ошибка разбора",  # triage raised on it (logged): set aside for a moderator to look at
}

# Every rule reads the normalised text (app/services/text.py): NFKC, no variation selectors, skin-tone modifiers or
# zero-width characters; words in any script.
_THANKS_WORD = (r"(?:спасибо|спасибочки|спс|благодарю|благодарим|благодарствую|thanks?|thank\s+you|thx|"
                r"рахмат|рәхмәт|баһыыба)")
# «Да», «Ок», «Всё хорошо» — the words residents type to «Проблема решена?» instead of pressing a button.
_YES_WORD = (r"(?:да|ага|угу|ок|окей|ok|okay|хорошо|отлично|супер|понятно|ясно|принято|"
             r"вс[её]\s+(?:хорошо|отлично|нормально|сделали)|решена|решено|сделали|сделано)")
_YES = re.compile(r"^[\W_]*" + _YES_WORD + r"(?:[\W_]+" + _YES_WORD + r")*[\W_]*$", re.IGNORECASE)
_THANKS = re.compile(r"^[\W_]*(?:" + _YES_WORD + r"[\W_]+)*(?:(?:большое|огромное|сердечное|всем)[\W_]+)?" +
                     _THANKS_WORD +
                     r"(?:[\W_]+(?:вам|тебе|большое|огромное|всем|вам\s+большое|за\s+[\w\s-]{1,60}|" + _YES_WORD +
                     r"))*[\W_]*$",
                     re.IGNORECASE)
# A thanks followed by «но», «не», «однако»… is a complaint («Спасибо, но яма осталась»): never taken for thanks.
THANKS_MAX = 200  # a longer message says more than thanks (and the pattern is never run on long text)
_NOT_THANKS = frozenset({"но", "не", "нет", "однако", "а", "только", "опять", "снова", "but", "not", "still"})
_URL = re.compile(r"(https?://|www\.)\S+|\b\S+\.(ru|com|net|рф|shop|store)\b", re.IGNORECASE)
_AD_WORDS = re.compile(r"\b(скидк|акци[яи]|заработ|доход|кредит|займ|промокод|купить|продам|подпис(ывайтесь|ка)|"
                       r"казино|ставки|выезд бесплатно|ремонт холодильник)", re.IGNORECASE)
# Attachments that are not content: a sticker (or a reaction) says what an emoji says.


def has_content(attachments) -> bool:
    """Whether the attachments (dicts or Attachment objects, or a plain bool) carry content (a photo, a
    document, a voice message…); stickers and reactions do not (one rule: `channels.content.is_content`)."""
    if isinstance(attachments, bool) or attachments is None:
        return bool(attachments)
    return content.is_content(attachments)


def is_thanks(text: str | None) -> bool:
    clean = normalise(text)
    if not clean or len(clean) > THANKS_MAX or not _THANKS.match(clean):
        return False
    return not (set(words(clean)) & _NOT_THANKS)


def is_yes(text: str | None) -> bool:
    """Only «да», «ок», «всё хорошо», «решена»…: the answer to «Проблема решена?» typed instead of pressed."""
    clean = normalise(text)
    return bool(clean) and len(clean) <= THANKS_MAX and _YES.match(clean) is not None


def noise_reason(text: str, attachments=False) -> str | None:
    """Why this message is not an appeal, or None when it may be one. A photo alone is an appeal; a sticker,
    a reaction or emoji alone is not, on every network. `attachments`: the message's attachments (or a bool)."""
    stripped = normalise(text)
    if has_content(attachments):
        return None
    if not stripped:
        return "emoji" if attachments else "empty"  # a lone sticker
    if not has_words(stripped):
        return "emoji"
    if is_thanks(stripped):
        return "thanks"
    if _URL.search(stripped) and _AD_WORDS.search(stripped):
        return "advertising"
    if len(_AD_WORDS.findall(stripped)) >= 2:
        return "advertising"
    return None


@dataclass
class Route:
    category: Category | None
    confidence: float  # share of the text's words that hit the category's keywords, 0..1
    matched: list[str]


def _stems(keywords: str) -> list[str]:
    return [k.strip().lower().replace("ё", "е") for k in re.split(r"[,;\n]+|\s{2,}|\s", keywords or "")
            if len(k.strip()) >= 3]


def active_categories() -> list[Category]:
    return batchmemo.memo("intake.active_categories", lambda: list(db.session.scalars(
        select(Category).where(Category.is_active.is_(True)).order_by(Category.id))))


def categorize(text: str, categories: list[Category] | None = None) -> Route:
    """The category whose keyword stems the text mentions most (admins edit the stems per category).
    `categories`: the active categories read once by a caller routing many texts (the routing model's evaluation)."""
    found = words(text)
    if not found:
        return Route(None, 0.0, [])
    best: Route = Route(None, 0.0, [])
    hits = prefixes(found)  # a stem hits when a word begins with it (app/services/text.py: the one matcher)
    for cat in active_categories() if categories is None else categories:
        matched = sorted({s for s in _stems(cat.keywords) if s in hits})
        if len(matched) > len(best.matched):
            best = Route(cat, min(1.0, len(matched) / max(3, len(found) / 4)), matched)
    return best
