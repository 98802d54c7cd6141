"""Addresses in residents' words: a street of the city's list (table `streets`) and a house, found in free Russian
text («на кирова возле 3 дома», «дом 12 по Садовой», «ул.Партизанская,д.7 кв 3», «во дворе Кирова 10/2», «Ленена 15»,
«Partizanskaya 7»), normalised to «ул. Ленина, 15».

How: the text's words (Latin ones transliterated), each cut to its stem (adjective and noun endings dropped, so
«Партизанской», «Садовой», «Весеннем» meet «Партизанская», «Садовая», «Весенний»), are compared with the stems of
every street's core name and aliases; a word one letter off (two for long names) is still the street (rapidfuzz's
Levenshtein distance). A mention counts when a street word («ул.», «улица», «переулок»…), a preposition of place
(«на», «по», «возле»…) or a house number stands next to it, so «северная часть города» is no address. The house is
the number after the street («15», «15а», «15/2», «д. 7», «дом 12», «3 дома», «корпус 2») or before it
(«дом 12 по Садовой»); a number of days, hours or years is not.

Measured against natasha's AddrExtractor on the labelled phrases of tests/data/address_phrases.py
(bench/addresses_eval.py): the street-list matcher finds more streets and houses in residents' colloquial text, so
it is the one used; natasha is not a dependency.
"""
from __future__ import annotations

import csv
import html
import re
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from sqlalchemy import func, select

from app.extensions import db
from app.models import Street
from app.services import batchmemo
from app.services.errors import DomainError, NotFound, ValidationFailed
from app.services.text import normalise

# --- street names -----------------------------------------------------------------------------------
# Kinds of street as written in a name (the key) → the short form shown («ул. Ленина»).
KINDS = {
    "ул": "ул.", "улица": "ул.", "пер": "пер.", "переулок": "пер.", "пр-т": "пр-т", "просп": "пр-т",
    "проспект": "пр-т", "пл": "пл.", "площадь": "пл.", "б-р": "б-р", "бульвар": "б-р", "ш": "ш.", "шоссе": "ш.",
    "мкр": "мкр", "микрорайон": "мкр", "проезд": "проезд", "наб": "наб.", "набережная": "наб.", "тупик": "туп.",
    "туп": "туп.",
}
KIND_CHOICES = ("ул.", "пер.", "пр-т", "пл.", "б-р", "ш.", "мкр", "проезд", "наб.", "туп.")
# Words (as stems below) that name a kind of street in a text, in any case: «улице», «переулке», «проспекте».
_KIND_WORDS = re.compile(r"^(ул|улиц\w*|пер|переул\w*|пр|пр-т|просп\w*|пл|площад\w*|б-р|бульв\w*|ш|шоссе|мкр|"
                         r"микрорайон\w*|проезд\w*|наб|туп\w*)$")
_PLACE_WORDS = frozenset("на по с со у около возле напротив рядом район районе вдоль между угол углу перекресток "
                         "перекрестке пересечение пересечении двор дворе дворы дома доме адрес адресу".split())
_ENDINGS = ("ого", "его", "аго", "яго", "ому", "ему", "ыми", "ими", "ая", "яя", "ой", "ей", "ую", "юю", "ое", "ее",
            "ом", "ем",
            "ий", "ый", "ые", "ие", "ых", "их")
_LATIN = [("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ch", "ч"), ("sh", "ш"), ("ts", "ц"), ("ya", "я"),
          ("yu", "ю"), ("yo", "е"), ("ye", "е"), ("iy", "ий"), ("yy", "ый"),
          ("a", "а"), ("b", "б"), ("v", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"), ("i", "и"), ("j", "й"),
          ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"), ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"),
          ("u", "у"), ("f", "ф"), ("h", "х"), ("c", "к"), ("y", "ы"), ("w", "в"), ("x", "кс"), ("q", "к")]
_LATIN_RE = re.compile("|".join(re.escape(a) for a, _ in _LATIN))
_LATIN_MAP = dict(_LATIN)
# A token: a word, or a house number with its letter or fraction («15а», «10/2», «7-б»).
# A letter after a space is the house's only at the end of a phrase («Ленина 15 а, кв. 3»), never a preposition
# that starts the next words («Кирова 21 у магазина», «Ленина 78 в подвале»).
_TOKEN = re.compile(r"\d+(?:\s?[-/]\s?\d+)?(?:-?[а-я](?![а-я])|\s-?[а-я](?![а-я])(?!\s*[а-я0-9]))?"
                    r"|[а-яa-z]+(?:-[а-яa-z]+)*|[^\w\s]", re.UNICODE)
_NUMBER = re.compile(r"^\d{1,4}(?!\d)")  # a house: up to 4 digits («1000000», a postcode or a phone is not one)
_TAG = re.compile(r"<[^>]{0,500}>")
# What a number right after a street must not be followed by: «3 дня», «10 часов», «5 лет», «2 раза».
_NOT_HOUSE = re.compile(r"^(дн|дня|дней|день|час|часа|часов|мин|минут|минуты|сут|суток|сутки|недел[иьюя]|неделе|"
                        r"месяц|месяца|месяцев|мес|год|года|годов|лет|раз|раза|руб|рублей|рубля|тыс|тысяч|шт|метр|"
                        r"метра|метров|м|км|см|мм|человек|семей|семьи|ребен\w*|детей|машин\w*|автобус\w*|"
                        r"маршрут\w*|числ\w*|января|февраля|марта|апреля|мая|июня|июля|августа|сентября|"
                        r"октября|ноября|декабря|градус\w*|процент\w*)$")
_HOUSE_WORDS = re.compile(r"^(д|дом|дома|доме|дому|домом|домов|№|n|номер)$")
_BUILDING_WORDS = re.compile(r"^(к|корп|корпус|корпуса|корпусе|кор|стр|строение)$")


def _translit(word: str) -> str:
    return _LATIN_RE.sub(lambda m: _LATIN_MAP[m.group(0)], word)


def stem(word: str) -> str:
    """«партизанской» → «партизанск», «весеннем» → «весенн», «кирова» → «кирова» (a name in the genitive stays)."""
    word = word.lower().replace("ё", "е")
    if (word.isascii() and word.isdigit()) or len(word) <= 4:
        return word
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= 4:
            return word[: -len(ending)]
    return word


def parse_name(name: str) -> tuple[str, str, str]:
    """A street's name as an admin writes it → (kind, core, display name): «улица Ленина» → («ул.», «ленина»,
    «ул. Ленина»); «Никольское шоссе» → («ш.», «никольское», «Никольское шоссе»); «Садовая» → («ул.», «садовая»,
    «ул. Садовая»)."""
    clean = " ".join(normalise(name).replace(",", " ").split())
    words = clean.split()
    kind = None
    rest = words
    for i in (0, len(words) - 1) if words else ():
        key = words[i].lower().rstrip(".")
        if key in KINDS and len(words) > 1:
            kind = KINDS[key]
            rest = words[1:] if i == 0 else words[:-1]
            if i == len(words) - 1:  # «Никольское шоссе»: the kind after the name stays where it was written
                return kind, " ".join(rest).lower().replace("ё", "е"), clean
            break
    kind = kind or "ул."
    core = " ".join(rest).lower().replace("ё", "е")
    shown = " ".join(rest)
    return kind, core, f"{kind} {shown[:1].upper()}{shown[1:]}"


# --- the city's streets, as the matcher reads them -----------------------------------------------------
@dataclass(frozen=True)
class StreetEntry:
    id: int
    name: str
    forms: tuple[tuple[str, ...], ...]  # each spelling (core, aliases) as a tuple of stems


def entry(street_id: int, name: str, core: str, aliases: str = "") -> StreetEntry:
    spellings = [core] + [a for a in (aliases or "").splitlines() if a.strip()]
    forms = []
    for s in spellings:
        words = [w for w in re.findall(r"[0-9]+|[а-яa-z]+(?:-[а-яa-z]+)*", s.lower().replace("ё", "е"))]
        words = [_translit(w) if re.match("[a-z]", w) else w for w in words]
        if words:
            forms.append(tuple(stem(w) for w in words))
    return StreetEntry(street_id, name, tuple(dict.fromkeys(forms)))


_cache: dict = {"key": None, "entries": []}


def city_streets() -> list[StreetEntry]:
    """Every street of the table, cached until a street is added or deleted."""
    key = batchmemo.memo("addresses.streets_key", lambda: tuple(
        db.session.execute(select(func.count(Street.id), func.max(Street.id))).one()))
    if _cache["key"] != key:
        rows = db.session.execute(select(Street.id, Street.name, Street.core, Street.aliases)).all()
        _cache["entries"] = [entry(r.id, r.name, r.core, r.aliases) for r in rows]
        _cache["key"] = key
    return _cache["entries"]


# --- extraction ---------------------------------------------------------------------------------------
@dataclass
class Address:
    street_id: int
    street: str  # «ул. Ленина»
    house: str | None = None  # «15», «15а», «15/2»
    building: str | None = None  # корпус
    score: float = 100.0

    @property
    def house_text(self) -> str | None:
        if not self.house:
            return None
        return f"{self.house} корп. {self.building}" if self.building else self.house

    @property
    def text(self) -> str:
        """«ул. Ленина, 15», «ул. Ленина, 15 корп. 2», «ул. Ленина»."""
        return f"{self.street}, {self.house_text}" if self.house else self.street


def _tokens(text: str) -> list[str]:
    text = html.unescape(_TAG.sub(" ", text)).replace("№", " номер ")  # a portal editor's HTML; «дома № 40»
    folded = normalise(text).lower().replace("ё", "е")
    out = []
    for t in _TOKEN.findall(folded):
        if re.match("[a-z]", t):
            t = _translit(t)
        out.append(t)
    return out


def _close(a: str, b: str) -> float:
    """100 for the same stem; less for a typo (one letter off, two in a long word); 0 otherwise."""
    if a == b:
        return 100.0
    if (a.isascii() and a.isdigit()) or (b.isascii() and b.isdigit()) or len(a) < 4 or a[0] != b[0]:
        return 0.0
    allowed = 1 if len(b) < 8 else 2
    d = Levenshtein.distance(a, b, score_cutoff=allowed)
    return 100.0 - 10 * d if d <= allowed else 0.0


def _house(tokens: list[str], start: int) -> tuple[str | None, str | None]:
    """The house number at tokens[start:] («15», «, д. 7», «дом 12», «возле 3 дома», «10/2 корпус 2»)."""
    i = start
    seen_word = 0
    while i < len(tokens) and i < start + 5:
        t = tokens[i]
        if t in (",", ".", "-", ":"):
            i += 1
            continue
        if _HOUSE_WORDS.match(t) or (i == start and _KIND_WORDS.match(t)):
            i += 1
            continue
        if _NUMBER.match(t):
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if _NOT_HOUSE.match(nxt) and not _HOUSE_WORDS.match(nxt):
                return None, None
            if seen_word and not _HOUSE_WORDS.match(nxt) and not (i > 0 and _HOUSE_WORDS.match(tokens[i - 1])):
                return None, None  # «на Кирова возле школы 3»: a number after other words is a house only as «3 дома»
            house = re.sub(r"\s+", "", t).replace("-", "") if "/" not in t else re.sub(r"\s+", "", t)
            house = re.sub(r"(\d)-(?=[а-я])", r"\1", house)
            building = None
            j = i + 1
            while j < len(tokens) and tokens[j] in (",", ".", "-"):
                j += 1
            if j < len(tokens) and _BUILDING_WORDS.match(tokens[j]):
                k = j + 1
                while k < len(tokens) and tokens[k] in (".", ","):
                    k += 1
                if k < len(tokens) and tokens[k].isascii() and tokens[k].isdigit():
                    building = tokens[k]
            return house[:12], building
        if t in _PLACE_WORDS or len(t) <= 3 or seen_word < 2:
            seen_word += 1
            i += 1
            continue
        break
    return None, None


def _house_before(tokens: list[str], start: int) -> str | None:
    """«дом 12 по Садовой», «д. 5 на Ленина»: the number before the street after a house word."""
    j = start - 1
    while j >= 0 and tokens[j] in ("по", "на", "улице", "ул", ".", ","):
        j -= 1
    word = j - 2 if j >= 2 and tokens[j - 1] == "." else j - 1
    if word >= 0 and _NUMBER.match(tokens[j]) and _HOUSE_WORDS.match(tokens[word]):
        return re.sub(r"\s+", "", tokens[j])[:12]
    return None


def extract(text: str | None, streets: list[StreetEntry] | None = None) -> Address | None:
    """The best address of the city's list in `text`, or None."""
    if not text:
        return None
    streets = city_streets() if streets is None else streets
    if not streets:
        return None
    tokens = _tokens(text[:5000])
    stems = [stem(t) for t in tokens]
    best: tuple[float, int, Address] | None = None
    for s in streets:
        for form in s.forms:
            n = len(form)
            for i in range(len(tokens) - n + 1):
                scores = [_close(stems[i + k], form[k]) for k in range(n)]
                if min(scores) == 0:
                    continue
                score = sum(scores) / n
                before = tokens[i - 1] if i > 0 else ""
                before2 = tokens[i - 2] if i > 1 else ""
                kind_word = bool(_KIND_WORDS.match(before) or (before == "." and _KIND_WORDS.match(before2))
                                 or (i + n < len(tokens) and _KIND_WORDS.match(tokens[i + n])))
                house, building = _house(tokens, i + n)
                if house is None:
                    house = _house_before(tokens, i)
                placed = before in _PLACE_WORDS or before2 in _PLACE_WORDS
                numbered = i + n < len(tokens) and _NUMBER.match(tokens[i + n]) is not None  # «Гагарина 3 дня»
                if not (kind_word or house or placed or numbered):
                    continue
                if score < 100 and not (kind_word or house):
                    continue  # a typo is trusted only next to a street word or a house number
                rank = score + (20 if kind_word else 0) + (15 if house else 0) + (5 if placed else 0) + n - i * 0.001
                if best is None or rank > best[0]:
                    best = (rank, i, Address(s.id, s.name, house, building, score))
    return best[2] if best else None


def apply_to(ticket, text: str | None) -> bool:
    """Put the address found in `text` on a ticket without a street yet (its own address, when it has one, is read
    first). Returns whether one was found."""
    if ticket.street_id is not None:
        return False
    found = extract(ticket.address) if ticket.address else None
    if found is None:
        found = extract(text)
    if found is None:
        return False
    ticket.street_id = found.street_id
    ticket.house = found.house_text[:20] if found.house_text else None
    if not ticket.address:
        ticket.address = found.text
    return True


# --- the street list, as admins keep it ------------------------------------------------------------------
CSV_MAX_BYTES = 2_000_000


def streets() -> list[Street]:
    return list(db.session.scalars(select(Street).order_by(Street.core, Street.kind)))


def add_street(name: str, district: str | None = None, aliases: str = "") -> Street:
    """A street of the city, from its name as written («ул. Ленина», «Никольское шоссе»). Caller commits."""
    name = " ".join((name or "").split())
    if not name or len(name) > 200 or not re.search(r"[а-яёa-z0-9]", name.lower()):
        raise ValidationFailed("Укажите название улицы", field="name")
    kind, core, shown = parse_name(name)
    if not core:
        raise ValidationFailed("Укажите название улицы", field="name")
    if db.session.scalar(select(Street.id).where(Street.kind == kind, Street.core == core)):
        raise ValidationFailed("Улица «%(name)s» уже есть", field="name", name=shown)
    street = Street(name=shown[:200], kind=kind, core=core[:200], district=(district or "").strip()[:120] or None,
                    aliases="\n".join(a.strip() for a in (aliases or "").replace(";", "\n").splitlines()
                                      if a.strip())[:5000])
    db.session.add(street)
    db.session.flush()
    return street


def delete_street(street_id: int) -> None:
    """Remove a street (tickets keep their address text; their street link is cleared). Caller commits."""
    street = db.session.get(Street, street_id) if 0 < street_id < 2**31 else None
    if street is None:
        raise NotFound("Улица не найдена")
    db.session.delete(street)
    db.session.flush()


@dataclass
class ImportResult:
    added: list[str]
    errors: list[tuple[int, str]]  # (line, message)


def import_csv(data: bytes) -> ImportResult:
    """Streets from a CSV with a header: «name» (required), «district», «aliases» (separated by «;» inside the cell
    when the file's delimiter is «,»). Each good line is added; each bad one is reported with its number.
    Caller commits."""
    if len(data) > CSV_MAX_BYTES:
        raise ValidationFailed("Файл слишком большой", field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("Файл не в кодировке UTF-8", field="file") from exc
    lines = text.splitlines()
    if not lines:
        raise ValidationFailed("Файл пуст", field="file")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(lines, delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    if "name" not in header:
        raise ValidationFailed("Нет столбца «name»", field="file")
    col = {h: i for i, h in enumerate(header)}
    result = ImportResult([], [])
    for line, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue

        def cell(key: str, row=row) -> str:
            i = col.get(key)
            return row[i].strip() if i is not None and i < len(row) else ""

        try:
            with db.session.begin_nested():
                street = add_street(cell("name"), cell("district") or None, cell("aliases"))
            result.added.append(street.name)
        except DomainError as exc:
            result.errors.append((line, exc.message))
    return result


def seed(rows: list[tuple[str, str | None]]) -> int:
    """The demo's streets: (name, district) each, skipped when already there. Caller commits."""
    added = 0
    for name, district in rows:
        kind, core, _ = parse_name(name)
        if not db.session.scalar(select(Street.id).where(Street.kind == kind, Street.core == core)):
            add_street(name, district)
            added += 1
    return added
