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


# --- words and phrases found in a text: the one matcher of the rubrics' keywords (app/services/intake/routing.py) and
# of the admins' override rules (app/services/routing_rules.py). A term of STEM_MIN letters or more is a word's
# beginning («освещ» finds «освещение», «освещения»); a shorter one is a whole word («ул» finds «ул», never «улица»).
STEM_MIN = 3


def prefixes(found: list[str]) -> set[str]:
    """Every word of `found` (from `words()`) and every beginning of it at least STEM_MIN letters long: a term
    hits the text when it is in this set."""
    out: set[str] = set()
    for w in found:
        out.add(w)
        out.update(w[:n] for n in range(STEM_MIN, len(w)))
    return out


def phrase(line: str) -> tuple[str, ...]:
    """A pattern line as the terms it is matched by (lower-cased, «ё» as «е», punctuation dropped)."""
    return tuple(words(line))


def _term_hits(term: str, word: str) -> bool:
    return word.startswith(term) if len(term) >= STEM_MIN else word == term


def phrase_in(found: list[str], terms: tuple[str, ...], found_prefixes: set[str] | None = None) -> bool:
    """Whether the text's words `found` contain the terms one after another. `found_prefixes`: `prefixes(found)`,
    computed once by a caller matching many phrases."""
    if not terms:
        return False
    pre = prefixes(found) if found_prefixes is None else found_prefixes
    if terms[0] not in pre:  # (a term shorter than STEM_MIN is in it only as a whole word)
        return False
    if len(terms) == 1:
        return True
    n = len(terms)
    return any(all(_term_hits(terms[j], found[i + j]) for j in range(n)) for i in range(len(found) - n + 1))
