"""Triage rules v1: is it noise, and which category (рубрика) do its words point to."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import Category

NOISE_LABELS = {
    "thanks": "Благодарность",
    "emoji": "Только эмодзи",
    "advertising": "Реклама",
    "empty": "Пустое сообщение",
    "command": "Команда боту",
}

_WORD = re.compile(r"[0-9a-zа-яё]+", re.IGNORECASE)
_THANKS = re.compile(r"^(большое\s+|огромное\s+)?(спасибо|благодарю|благодарим|спс|thanks?)"
                     r"(\s+(вам|большое|огромное|за\s+[а-яё ]{0,60}))*[\s!.)❤👍🙏]*$", re.IGNORECASE)
_URL = re.compile(r"(https?://|www\.)\S+|\b\S+\.(ru|com|net|рф|shop|store)\b", re.IGNORECASE)
_AD_WORDS = re.compile(r"\b(скидк|акци[яи]|заработ|доход|кредит|займ|промокод|купить|продам|подпис(ывайтесь|ка)|"
                       r"казино|ставки|выезд бесплатно|ремонт холодильник)", re.IGNORECASE)


def noise_reason(text: str, has_attachments: bool = False) -> str | None:
    """Why this message is not an appeal, or None when it may be one. A photo alone is an appeal."""
    stripped = (text or "").strip()
    if not stripped:
        return None if has_attachments else "empty"
    if has_attachments:
        return None
    if not _WORD.search(stripped):
        return "emoji"
    if _THANKS.match(stripped):
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
    return [k.strip().lower() for k in re.split(r"[,;\n]+|\s{2,}|\s", keywords or "") if len(k.strip()) >= 3]


def categorize(text: str) -> Route:
    """The category whose keyword stems the text mentions most (admins edit the stems per category)."""
    words = [w.lower() for w in _WORD.findall(text or "")]
    if not words:
        return Route(None, 0.0, [])
    best: Route = Route(None, 0.0, [])
    for cat in db.session.scalars(select(Category).where(Category.is_active.is_(True)).order_by(Category.id)):
        stems = _stems(cat.keywords)
        matched = sorted({s for s in stems for w in words if w.startswith(s)})
        if len(matched) > len(best.matched):
            best = Route(cat, min(1.0, len(matched) / max(3, len(words) / 4)), matched)
    return best
