"""Personal data out of the texts before the routing model reads them: phones, e-mails and people's names become
the tokens PHONE, EMAIL and NAME, and the HTML portal editors leave (tags, entities) is stripped.

Names are found two ways, both cheap:
* rules: a capitalised word after «меня зовут», «я,», «с уважением,», «ФИО:», «жительница …»; a patronymic
  (…вич, …вна, …ична, …ьич, in any case form) and the capitalised words next to it; a surname with initials
  («Иванов И.И.», «И. И. Иванов»);
* natasha's NER (slovnet), only when asked (`ner=True`) and natasha is installed: every PER span. Measured on this
  2-core machine: 0.6 s to load, then ~9 ms a text — 15 minutes for 100,000 tickets and twice the 5 ms routing
  budget — against ~0.04 ms a text for the rules, which catch the names residents sign with. So the model masks
  with the rules; the NER is there for a one-off audit of the training texts.
"""
from __future__ import annotations

import html
import re
import threading

from app.services.text import normalise

PHONE, EMAIL, NAME = "PHONE", "EMAIL", "NAME"

_TAG = re.compile(r"<\s*(script|style)\b[^>]*>.*?<\s*/\s*\1\s*>|<!--.*?-->|<[^>]{0,2000}>",
                  re.IGNORECASE | re.DOTALL)
_BREAK_TAG = re.compile(r"<\s*(br|/p|/div|/li|/h\d|/tr)\b[^>]*>", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", re.UNICODE)
# +7 / 8 / 7 followed by 10 digits with spaces, dashes, dots or brackets between; local 6-7 digit numbers with
# dashes («52-14-33», «8 (3452) 52-14-33»); a bare run of 10-11 digits starting with 9, 8 or 7.
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+\s*7|8|7)[\s\-.]*\(?\s*\d{3,5}\s*\)?[\s\-.]*\d{1,3}[\s\-.]*\d{2}[\s\-.]*\d{2}"
    r"|\+\s*\d{1,3}[\s\-.]*\(?\d{2,5}\)?[\s\-.]*\d{2,4}[\s\-.]*\d{2}[\s\-.]*\d{2}"
    r"|\d{1,3}-\d{2}-\d{2}"
    r"|9\d{9}"
    r")(?![\w])")
_CAP = r"[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?"
_PATRONYMIC = r"[А-ЯЁ][а-яё]+(?:вич|вна|ична|инична|ьич|вн[аоуыейю]|вич[аеуом]|вичем|ичн[аоуыейю])"
# «Иванов Иван Иванович», «Иван Иванович», «Иван Иванович Иванов» (any case form: the endings are kept loose)
_WITH_PATRONYMIC = re.compile(rf"(?:{_CAP}\s+)?{_CAP}\s+{_PATRONYMIC}(?:\s+{_CAP})?")
_INITIALS = re.compile(rf"{_CAP}\s+[А-ЯЁ]\.\s*(?:[А-ЯЁ]\.)?|[А-ЯЁ]\.\s*(?:[А-ЯЁ]\.\s*)?{_CAP}")
_INTRO = re.compile(
    r"(?i:меня\s+зовут|моё\s+имя|мое\s+имя|фио\s*[:\-]|с\s+уважением[,.!]?|уважением[,.]|подпись\s*[:\-]|"
    r"(?:^|[.!?]\s*)я\s*,|(?:^|[.!?]\s*)это\s|житель(?:ница)?\s|обращается\s|пишет\s)"
    rf"\s*((?:{_CAP})(?:\s+{_CAP}){{0,2}})")
_TOKEN = re.compile(r"\b(?:PHONE|EMAIL|NAME)(?:\s+(?:PHONE|EMAIL|NAME))+\b")

_ner_lock = threading.Lock()
_ner: tuple | None = None
_ner_failed = False


def strip_html(text: str | None) -> str:
    """Tags out (a line break where a block ends), entities decoded (twice: portals double-escape)."""
    text = text or ""
    if "<" in text:
        text = _BREAK_TAG.sub("\n", text)
        text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(html.unescape(text))
        if "<" in text:  # «&lt;b&gt;» decoded into a tag
            text = _TAG.sub(" ", text)
    return text


def _natasha():
    """(segmenter, NER tagger), loaded once per process; None when natasha is missing or fails to load."""
    global _ner, _ner_failed
    if _ner is None and not _ner_failed:
        with _ner_lock:
            if _ner is None and not _ner_failed:
                try:
                    from natasha import NewsEmbedding, NewsNERTagger, Segmenter
                    _ner = (Segmenter(), NewsNERTagger(NewsEmbedding()))
                except Exception:  # noqa: BLE001 — not installed, or its data missing: the rules still mask
                    _ner_failed = True
    return _ner


def ner_available() -> bool:
    return _natasha() is not None


def _ner_spans(text: str) -> list[tuple[int, int]]:
    loaded = _natasha()
    if loaded is None:
        return []
    from natasha import Doc
    segmenter, tagger = loaded
    doc = Doc(text)
    doc.segment(segmenter)
    doc.tag_ner(tagger)
    return [(s.start, s.stop) for s in doc.spans if s.type == "PER"]


def _replace_spans(text: str, spans: list[tuple[int, int]], token: str) -> str:
    for start, stop in sorted(spans, reverse=True):
        text = text[:start] + token + text[stop:]
    return text


def mask_names(text: str, ner: bool = False) -> str:
    spans = [m.span(1) for m in _INTRO.finditer(text)]
    spans += [m.span() for m in _WITH_PATRONYMIC.finditer(text)]
    spans += [m.span() for m in _INITIALS.finditer(text)]
    if ner and re.search(r"[А-ЯЁA-Z][а-яёa-z]", text):  # no capitalised word: no name for the NER to find
        spans += _ner_spans(text)
    if not spans:
        return text
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(stop, merged[-1][1]))
        else:
            merged.append((start, stop))
    return _replace_spans(text, merged, NAME)


def mask(text: str | None, ner: bool = False) -> str:
    """The text as the model reads it: HTML stripped, normalised (app/services/text.py), phones, e-mails and names
    replaced by PHONE, EMAIL, NAME (a run of them by one)."""
    text = strip_html(text)
    text = _EMAIL.sub(f" {EMAIL} ", text)
    text = _PHONE.sub(f" {PHONE} ", text)
    text = normalise(text)
    text = mask_names(text, ner=ner)
    return _TOKEN.sub(lambda m: m.group(0).split()[0], text)


def mask_many(texts, ner: bool = False) -> list[str]:
    return [mask(t, ner=ner) for t in texts]
