"""Residents' text as the text rules read it: one normalisation before every rule (noise, thanks, keywords,
hot-spot wording), and words in any script.

Phone keyboards decorate text invisibly: «❤️» is U+2764 followed by the variation selector U+FE0F, «👍🏻» carries a
skin-tone modifier, copy-paste brings zero-width spaces and joiners, and compatibility forms (full-width letters,
ligatures, superscripts) look like ordinary letters. `normalise()` folds all of that: NFKC, then variation
selectors, skin-tone modifiers, zero-width and other format characters removed. A word is a run of Unicode
letters or digits (`[^\\W_]`), so Yakut «баһыыба», Tatar «рәхмәт» or Chinese text is words, not «emoji».
"""
from __future__ import annotations

import re
import unicodedata

# Variation selectors (VS1-16, VS17-256), emoji skin-tone modifiers, zero-width and invisible format characters
# (ZWSP, ZWNJ, ZWJ, word joiner, BOM, soft hyphen, Mongolian vowel separator, invisible operators), tag characters.
_INVISIBLE = re.compile("[\uFE00-\uFE0F\U000E0100-\U000E01EF\U0001F3FB-\U0001F3FF\u200B-\u200F\u2060-\u2064"
                        "\uFEFF\u00AD\u180E\u034F\U000E0000-\U000E007F]")
WORD = re.compile(r"[^\W_]+")


def normalise(text: str | None) -> str:
    """NFKC, invisible decorations removed, runs of white space as one space, trimmed."""
    folded = unicodedata.normalize("NFKC", text or "")
    folded = _INVISIBLE.sub("", folded)
    return " ".join(folded.split())


def words(text: str | None) -> list[str]:
    """The words of the text (any script), lower-cased, «ё» as «е»."""
    return [w.replace("ё", "е") for w in WORD.findall(normalise(text).lower())]


def has_words(text: str | None) -> bool:
    return WORD.search(normalise(text)) is not None
