"""Override rules (issue 15): an admin's explicit route for named cases, asked before the learned model.

A rule is a list of words or phrases, one a line, and a rubric and/or an institution. A text matches a line when
it contains the line's words one after another, each as a whole word or as a word's beginning — the rubrics'
keyword matcher (app/services/text.py: a term of 3 letters or more is a beginning, a shorter one a whole word).
`match(text)` gives the first active rule by id whose pattern the text matches.

The active rules are parsed once per process and kept while the table's fingerprint (count, sum of ids, last
change) stays the same: one small aggregate query a call, the patterns never re-read when nothing changed.
Writers here commit nothing: the caller commits."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Category, Institution, RoutingRule, User, utcnow
from app.services import batchmemo
from app.services.board.hotspots import STOP
from app.services.errors import NotFound, ValidationFailed
from app.services.text import STEM_MIN, phrase, phrase_in, prefixes, words

MAX_NAME = 200
MAX_PATTERN = 5000
MAX_LINE = 200
MAX_NOTE = 2000
MAX_ID = 2**31 - 1


@dataclass
class RuleMatch:
    rule: RoutingRule
    category: Category | None
    institution: Institution | None
    matched: list[str] = field(default_factory=list)  # the pattern's lines the text said


@dataclass(frozen=True)
class _Parsed:
    id: int
    phrases: tuple[tuple[str, ...], ...]


_lock = threading.Lock()
_cache: dict[str, tuple[tuple, list[_Parsed]]] = {}


def _fingerprint() -> tuple:
    return batchmemo.memo("routing_rules.fingerprint", _read_fingerprint)


def _read_fingerprint() -> tuple:
    row = db.session.execute(select(func.count(RoutingRule.id), func.coalesce(func.sum(RoutingRule.id), 0),
                                    func.max(RoutingRule.updated_at))).one()
    return tuple(row)


def _active() -> list[_Parsed]:
    key = _fingerprint()
    hit = _cache.get("rules")
    if hit is not None and hit[0] == key:
        return hit[1]
    rows = db.session.execute(select(RoutingRule.id, RoutingRule.pattern).where(RoutingRule.is_active.is_(True))
                              .order_by(RoutingRule.id))
    parsed = [_Parsed(r.id, tuple(p for p in (phrase(line) for line in (r.pattern or "").splitlines()) if p))
              for r in rows]
    with _lock:
        _cache["rules"] = (key, parsed)
    return parsed


def forget() -> None:
    _cache.clear()


def match(text: str | None) -> RuleMatch | None:
    """The first active rule by id whose pattern the text says, with its rubric, institution and the lines it
    matched; None when no rule matches."""
    found = words(text)
    if not found:
        return None
    pre = prefixes(found)
    for parsed in _active():
        hit = [" ".join(p) for p in parsed.phrases if phrase_in(found, p, pre)]
        if hit:
            rule = db.session.get(RoutingRule, parsed.id)
            if rule is None or not rule.is_active:  # changed since the fingerprint was read
                continue
            return RuleMatch(rule, rule.category, rule.institution, hit)
    return None


# --- reading and writing --------------------------------------------------------------------------------------
def rules() -> list[RoutingRule]:
    """Every rule by id (the order `match` asks them in), with its rubric and institution."""
    return list(db.session.scalars(select(RoutingRule).options(selectinload(RoutingRule.category),
                                                               selectinload(RoutingRule.institution))
                                   .order_by(RoutingRule.id)))


def get(rule_id) -> RoutingRule:
    rule = db.session.get(RoutingRule, rule_id) if isinstance(rule_id, int) and 0 < rule_id <= MAX_ID else None
    if rule is None:
        raise NotFound("Правило не найдено")
    return rule


def _id(value, model, message: str, field_name: str):
    if value in (None, "", 0, "None"):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = -1
    obj = db.session.get(model, n) if 0 < n <= MAX_ID else None
    if obj is None:
        raise ValidationFailed(message, field=field_name)
    return obj


def clean_pattern(pattern: str | None) -> str:
    """The pattern as stored: one phrase a line, blank lines dropped. Raises ValidationFailed."""
    text = (pattern or "").replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > MAX_PATTERN:
        raise ValidationFailed("Слишком длинный список: не больше %(n)s знаков", field="pattern", n=MAX_PATTERN)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [line for line in lines if line]
    if not lines or not any(phrase(line) for line in lines):
        raise ValidationFailed("Укажите слова или фразы — по одной на строке", field="pattern")
    for line in lines:
        if len(line) > MAX_LINE:
            raise ValidationFailed("Строка длиннее %(n)s знаков: «%(line)s…»", field="pattern", n=MAX_LINE,
                                   line=line[:40])
        terms = phrase(line)
        if not terms or max(len(t) for t in terms) < STEM_MIN:
            raise ValidationFailed("В строке «%(line)s» нужно слово хотя бы из %(n)s букв", field="pattern",
                                   line=line[:60], n=STEM_MIN)
        if all(t in STOP for t in terms):  # «для», «что это»: found in nearly every appeal, the rule would take all
            raise ValidationFailed("Строка «%(line)s» — только служебные слова: она найдётся почти в любом "
                                   "обращении", field="pattern", line=line[:60])
    return "\n".join(lines)


def _validated(name, pattern, category_id, institution_id, note) -> dict:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationFailed("Укажите название правила", field="name")
    if len(name) > MAX_NAME:
        raise ValidationFailed("Название длиннее %(n)s знаков", field="name", n=MAX_NAME)
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed("Примечание длиннее %(n)s знаков", field="note", n=MAX_NOTE)
    pattern = clean_pattern(pattern)
    category = _id(category_id, Category, "Рубрика не найдена", "category_id")
    institution = _id(institution_id, Institution, "Учреждение не найдено", "institution_id")
    if category is None and institution is None:
        raise ValidationFailed("Укажите рубрику, учреждение или оба", field="category_id")
    return {"name": name, "pattern": pattern, "category": category, "institution": institution, "note": note}


def create(actor: User | None, name: str, pattern: str, category_id=None, institution_id=None, note: str = "",
           is_active: bool = True) -> RoutingRule:
    values = _validated(name, pattern, category_id, institution_id, note)
    now = utcnow()
    rule = RoutingRule(**values, is_active=bool(is_active), created_at=now, updated_at=now,
                       created_by_id=getattr(actor, "id", None) if getattr(actor, "is_authenticated", False) else None)
    db.session.add(rule)
    db.session.flush()
    forget()
    return rule


def update(actor: User | None, rule: RoutingRule, name: str, pattern: str, category_id=None, institution_id=None,
           note: str = "", is_active: bool | None = None) -> RoutingRule:
    values = _validated(name, pattern, category_id, institution_id, note)
    for key, value in values.items():
        setattr(rule, key, value)
    if is_active is not None:
        rule.is_active = bool(is_active)
    rule.updated_at = utcnow()
    db.session.flush()
    forget()
    return rule


def set_active(rule: RoutingRule, active: bool) -> RoutingRule:
    rule.is_active = bool(active)
    rule.updated_at = utcnow()
    db.session.flush()
    forget()
    return rule


def delete(rule: RoutingRule) -> None:
    db.session.delete(rule)
    db.session.flush()
    forget()
