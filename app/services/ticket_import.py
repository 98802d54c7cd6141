"""A city's history of appeals from a CSV or XLSX file (`flask tickets import`, issue 15).

Two steps. `plan()` reads the whole file, maps its columns (`--map`), cleans each row (HTML stripped, the date read
in the city's time zone, a key for idempotency), matches rubrics and institutions by name and says what it would
load: the counts per rubric and institution, the names it does not know, every bad row with its line number. It
writes nothing. `load()` writes the plan in batches (one transaction each): the rubrics and institutions it may
create, then the tickets with bulk inserts.

An imported appeal is closed history: status «closed» at its date (`resolved_at` = the answer's time or the
creation time), `imported` set, the deadline equal to that moment (the column is required; no clock ever ran), no
reply, no notification, no outbox row, no job, no SLA mark; the text is also its one message (network and kind
«import», already triaged: what the ticket page shows); the answer, when the file has one, is the text of its
«closed» event, as a staff answer is on a resolved ticket. Numbers follow the ticket counter of each year
(`tickets.reserve_numbers`). `import_key` is a SHA-256 of the file's id (`external_id`) or of the row's values:
a re-run finds the keys already loaded and loads nothing twice.
"""
from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy import text as sql_text

from app.extensions import db
from app.models import (
    BoardSnapshot,
    Category,
    Direction,
    Institution,
    Message,
    SlaPolicy,
    Ticket,
    TicketEvent,
    User,
    slugify,
    utcnow,
)
from app.services import settings, tickets
from app.services.board.figures import IMPORTED_IN_STATS
from app.services.text import normalise

FIELDS = ("text", "category", "institution", "created_at", "address", "answer", "answered_at", "external_id")
REQUIRED = ("text", "created_at")
NETWORK = "import"
MAX_BYTES = 512 * 1024 * 1024
ADDRESS_MAX = 300  # Ticket.address
CATEGORY_NAME_MAX = 200  # Category.name: a longer name could be created only cut, and never matched again
INSTITUTION_NAME_MAX = 300  # Institution.name
DEFAULT_POLICY = ("Импорт: 1 рабочий день / 7 рабочих дней", 8 * 60, 7 * 8 * 60, True)


class ImportProblem(Exception):
    """The file cannot be imported as asked: the message says why, in Russian, for the command's user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Row:
    line: int
    key: str
    text: str
    created_at: datetime
    resolved_at: datetime
    category: str = ""  # the file's name (normalised key in `plan.categories`)
    institution: str = ""
    address: str | None = None
    answer: str | None = None


@dataclass
class Plan:
    path: str
    rows: list[Row] = field(default_factory=list)
    bad: list[tuple[int, str]] = field(default_factory=list)
    already: int = 0  # rows whose key is already loaded (or repeated in the file)
    encoding_note: str | None = None
    # normalised name → id of the known rubric / institution; the unknown ones with their counts
    categories: dict[str, int] = field(default_factory=dict)
    institutions: dict[str, int] = field(default_factory=dict)
    unknown_categories: Counter = field(default_factory=Counter)
    unknown_institutions: Counter = field(default_factory=Counter)
    per_category: Counter = field(default_factory=Counter)
    per_institution: Counter = field(default_factory=Counter)

    @property
    def has_unknown(self) -> bool:
        return bool(self.unknown_categories or self.unknown_institutions)


@dataclass
class Result:
    loaded: int = 0
    skipped: int = 0  # already there (this run's or an earlier one's)
    bad: int = 0
    created_categories: list[str] = field(default_factory=list)
    created_institutions: list[str] = field(default_factory=list)


# --- the mapping ----------------------------------------------------------------------------------------
def parse_mapping(spec: str | None) -> dict[str, str]:
    """`text=Текст,category=Рубрика` → {field: the file's column}; unnamed fields keep their own names."""
    mapping = {f: f for f in FIELDS}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, column = part.partition("=")
        name, column = name.strip().lower(), column.strip()
        if not sep or not column:
            raise ImportProblem(f"Неверное сопоставление «{part.strip()}»: нужно поле=столбец, "
                                f"например text=Текст обращения.")
        if name not in FIELDS:
            raise ImportProblem(f"Неизвестное поле «{name}» в --map. Поля: {', '.join(FIELDS)}.")
        mapping[name] = column
    return mapping


def explicit_fields(spec: str | None) -> set[str]:
    return {p.partition("=")[0].strip().lower() for p in (spec or "").split(",") if "=" in p}


# --- reading the file -----------------------------------------------------------------------------------
def _header_key(name) -> str:
    return " ".join(str(name or "").replace("\ufeff", "").split()).lower()


def read_table(path: str, encoding: str = "auto") -> tuple[list[str], Iterator[tuple[int, list]], str | None]:
    """(header, rows as (line number, values), a note on the encoding) of a CSV or XLSX file."""
    p = Path(path)
    if not p.is_file():
        raise ImportProblem(f"Файл «{path}» не найден.")
    size = p.stat().st_size
    if size == 0:
        raise ImportProblem(f"Файл «{p.name}» пуст.")
    if size > MAX_BYTES:
        raise ImportProblem(f"Файл «{p.name}» больше {MAX_BYTES // 1024 // 1024} МБ: разделите его на части.")
    with open(p, "rb") as fh:
        head = fh.read(8)
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(p)
    if suffix == ".xls":
        raise ImportProblem("Старый формат Excel (.xls) не поддерживается: сохраните файл как .xlsx или CSV.")
    if head.startswith(b"PK\x03\x04"):
        return _read_xlsx(p)
    if suffix not in (".csv", ".txt", ".tsv", ""):
        raise ImportProblem(f"Файл «{p.name}»: поддерживаются CSV и XLSX.")
    return _read_csv(p, encoding)


def _read_xlsx(p: Path):
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(p, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportProblem(f"Файл «{p.name}» не читается как XLSX ({type(exc).__name__}).") from None
    ws = wb.worksheets[0] if wb.worksheets else None
    if ws is None:
        raise ImportProblem(f"В файле «{p.name}» нет листов.")
    it = ws.iter_rows(values_only=True)
    header = next(it, None)
    if header is None or not any(v not in (None, "") for v in header):
        raise ImportProblem(f"Файл «{p.name}» пуст: нет строки заголовков.")

    def rows():
        for i, values in enumerate(it, start=2):
            if values is None or all(v in (None, "") for v in values):
                continue
            yield i, list(values)
        wb.close()

    return [str(h) if h is not None else "" for h in header], rows(), None


def _decode(raw: bytes, encoding: str, name: str) -> tuple[str, str | None]:
    if encoding and encoding != "auto":
        try:
            return raw.decode(encoding), None
        except LookupError:
            raise ImportProblem(f"Неизвестная кодировка «{encoding}».") from None
        except UnicodeDecodeError as exc:
            raise ImportProblem(f"Файл «{name}» не в кодировке {encoding} (байт {exc.start}).") from None
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        pass
    text = raw.decode("cp1251", errors="replace")
    # Russian text in Windows-1251: its non-ASCII characters are nearly all Russian letters (and «»№—…)
    wide = [ch for ch in text[:50000] if ord(ch) > 127]
    russian = sum(1 for ch in wide if "а" <= ch.lower() <= "я" or ch in "ёЁ«»№—–…“”„")
    if wide and russian / len(wide) >= 0.9 and "\ufffd" not in text:
        return text, "Файл не в UTF-8: прочитан как Windows-1251 (укажите --encoding, если это не так)."
    raise ImportProblem(f"Файл «{name}» не в UTF-8 и не похож на Windows-1251: сохраните его в UTF-8 "
                        f"или укажите --encoding.")


def _read_csv(p: Path, encoding: str):
    raw = p.read_bytes()
    if b"\x00" in raw[:65536]:
        raise ImportProblem(f"Файл «{p.name}» двоичный, не CSV: поддерживаются CSV и XLSX.")
    text, note = _decode(raw, encoding, p.name)
    text = text.replace("\x00", "")  # a stray NUL further on: PostgreSQL's text cannot hold it
    if not text.strip():
        raise ImportProblem(f"Файл «{p.name}» пуст.")
    sample = text[:16384]
    first = sample.splitlines()[0] if sample.splitlines() else ""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        delimiter = max(";,\t|", key=first.count)
    if first.count(delimiter) == 0:
        delimiter = max(";,\t|", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        raise ImportProblem(f"Файл «{p.name}» не читается как CSV: нет строки заголовков.") from None
    if len([h for h in header if h.strip()]) < 1:
        raise ImportProblem(f"Файл «{p.name}» не читается как CSV: пустая строка заголовков.")

    def rows():
        start = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportProblem(f"Строка {start}: файл не читается как CSV ({exc}).") from None
            if any(v.strip() for v in values):
                yield start, values
            start = reader.line_num + 1

    return header, rows(), note


# --- cleaning the values ----------------------------------------------------------------------------------
_BREAKS = re.compile(r"<\s*(br|/p|p|/div|div|/li|li|/h[1-6]|tr|/tr)\b[^>]*>", re.I)
_DROP = re.compile(r"<\s*(script|style)\b[^>]*>.*?<\s*/\s*\1\s*>", re.I | re.S)
_TAGS = re.compile(r"<[^>]*>")
_COMMENTS = re.compile(r"<!--.*?-->", re.S)


def clean_text(value) -> str:
    """HTML from portal editors as plain text: tags out, <br>/<p> as new lines, entities unescaped, spaces
    normalised (runs of spaces to one, no empty lines)."""
    s = "" if value is None else str(value)
    if "<" in s or "&" in s:
        s = _COMMENTS.sub("", s)
        s = _DROP.sub("", s)
        s = _BREAKS.sub("\n", s)
        s = _TAGS.sub("", s)
        s = html.unescape(s)
    lines = [normalise(line) for line in s.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(line for line in lines if line)


def name_key(value) -> str:
    """A rubric's or an institution's name as matched: case, «ё», quotes and extra spaces do not matter."""
    s = normalise("" if value is None else str(value)).lower().replace("ё", "е")
    s = re.sub(r"[«»\"„“”'`]", "", s)
    return " ".join(s.split())


_DATE_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d.%m.%y %H:%M", "%d.%m.%y",
                 "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
_EXCEL_EPOCH = datetime(1899, 12, 30)


def parse_when(value, tz: ZoneInfo) -> datetime:
    """A date from the file as an aware UTC datetime; a naive one is the city's local time. Raises ValueError
    with the reason."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("нет даты")
    if isinstance(value, datetime):
        local = value
    elif isinstance(value, date):
        local = datetime.combine(value, time(0))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        local = _excel(float(value))
    else:
        s = " ".join(str(value).split())
        local = None
        if re.fullmatch(r"\d{4,5}(\.\d+)?", s.replace(",", ".")):
            local = _excel(float(s.replace(",", ".")))
        if local is None:
            for fmt in _DATE_FORMATS:
                try:
                    local = datetime.strptime(s, fmt)
                    break
                except ValueError:
                    continue
        if local is None:
            try:
                local = datetime.fromisoformat(s.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"дата «{s[:40]}» не распознана (нужно ДД.ММ.ГГГГ [ЧЧ:ММ] или ГГГГ-ММ-ДД)") from None
    if local.year < 1990:  # before astimezone: year 1 in the city's zone overflows
        raise ValueError(f"дата {local:%d.%m.%Y} слишком ранняя")
    if local.tzinfo is None:
        local = local.replace(tzinfo=tz)
    try:
        when = local.astimezone(timezone.utc)
    except OverflowError:
        raise ValueError(f"дата «{local.isoformat()[:40]}» вне допустимого диапазона") from None
    if when.year < 1990:
        raise ValueError(f"дата {local:%d.%m.%Y} слишком ранняя")
    return when


def _excel(serial: float) -> datetime:
    if not 1 <= serial < 2958466:
        raise ValueError(f"число {serial:g} не похоже на дату Excel")
    return _EXCEL_EPOCH + timedelta(days=serial)


def _key(external_id: str, values: list[str]) -> str:
    if external_id:
        source = "id\x1f" + external_id
    else:
        source = "row\x1f" + "\x1f".join(values)
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def _str(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


# --- the catalogue --------------------------------------------------------------------------------------
def _category_index() -> tuple[dict[str, int], dict[int, str]]:
    """Rubrics by name and code (normalised), and their names by id."""
    index: dict[str, int] = {}
    names: dict[int, str] = {}
    for c in db.session.scalars(select(Category).order_by(Category.id)):
        names[c.id] = c.name
        for v in (c.name, c.code):
            index.setdefault(name_key(v), c.id)
    index.pop("", None)
    return index, names


def _institution_index() -> tuple[dict[str, int], dict[int, str]]:
    """Institutions by name, short name and slug (normalised), and their short names by id."""
    index: dict[str, int] = {}
    names: dict[int, str] = {}
    for i in db.session.scalars(select(Institution).order_by(Institution.id)):
        names[i.id] = i.short_name
        for v in (i.name, i.short_name, i.slug):
            index.setdefault(name_key(v), i.id)
    index.pop("", None)
    return index, names


def plan(path: str, spec: str | None = None, encoding: str = "auto", now: datetime | None = None,
         progress: Callable[[int], None] | None = None) -> Plan:
    """Read and check the file: nothing is written. Raises ImportProblem when the file cannot be read or a
    needed column is missing."""
    now = now or utcnow()
    mapping = parse_mapping(spec)
    asked = explicit_fields(spec)
    header, rows, note = read_table(path, encoding)
    keys = [_header_key(h) for h in header]
    columns: dict[str, int] = {}
    missing = []
    for name, column in mapping.items():
        k = _header_key(column)
        if k in keys:
            columns[name] = keys.index(k)
        elif name in REQUIRED or name in asked:
            missing.append(f"{name} → «{column}»")
    if missing:
        shown = ", ".join(f"«{h}»" for h in header if str(h or "").strip())[:500]
        raise ImportProblem(f"В файле нет столбцов: {'; '.join(missing)}. Столбцы файла: {shown or 'нет'}. "
                            f"Укажите сопоставление в --map, например --map text=Текст,created_at=Дата.")
    tz = ZoneInfo(current_app.config["CITY_TZ"])
    result = Plan(path=path, encoding_note=note)
    result.categories, category_names = _category_index()
    result.institutions, institution_names = _institution_index()
    seen: set[str] = set()
    spelled: dict[str, str] = {}  # an unknown name as first spelled in the file
    width = len(header)

    def get(values: list, name: str):
        i = columns.get(name)
        return values[i] if i is not None and i < len(values) else None

    for line, values in rows:
        if progress:
            progress(1)
        if len(values) > width and any(_str(v) for v in values[width:]):
            result.bad.append((line, f"лишние значения: {len(values)} столбцов при {width} в заголовке"))
            continue
        text = clean_text(get(values, "text"))
        if not text:
            result.bad.append((line, "пустой текст обращения"))
            continue
        try:
            created = parse_when(get(values, "created_at"), tz)
        except ValueError as exc:
            result.bad.append((line, f"created_at: {exc}"))
            continue
        if created > now + timedelta(minutes=5):
            result.bad.append((line, "created_at: дата в будущем"))
            continue
        resolved = created
        if _str(get(values, "answered_at")):
            try:
                resolved = parse_when(get(values, "answered_at"), tz)
            except ValueError as exc:
                result.bad.append((line, f"answered_at: {exc}"))
                continue
            if resolved < created:
                result.bad.append((line, "answered_at: ответ раньше обращения"))
                continue
            if resolved > now + timedelta(minutes=5):
                result.bad.append((line, "answered_at: дата в будущем"))
                continue
        external_id = _str(get(values, "external_id"))
        category, institution = _str(get(values, "category")), _str(get(values, "institution"))
        if len(" ".join(category.split())) > CATEGORY_NAME_MAX:
            result.bad.append((line, f"category: название длиннее {CATEGORY_NAME_MAX} символов"))
            continue
        if len(" ".join(institution.split())) > INSTITUTION_NAME_MAX:
            result.bad.append((line, f"institution: название длиннее {INSTITUTION_NAME_MAX} символов"))
            continue
        address = " ".join(_str(get(values, "address")).split())[:ADDRESS_MAX] or None
        answer = clean_text(get(values, "answer")) or None
        key = _key(external_id, [text, category, institution, created.isoformat(), address or "", answer or ""])
        if key in seen:
            result.already += 1
            continue
        seen.add(key)
        for value, index, names, unknown, per in (
                (category, result.categories, category_names, result.unknown_categories, result.per_category),
                (institution, result.institutions, institution_names, result.unknown_institutions,
                 result.per_institution)):
            if value:
                key_ = name_key(value)
                known = index.get(key_)
                shown = names[known] if known is not None else spelled.setdefault(key_, " ".join(value.split()))
                per[shown] += 1
                if known is None:
                    unknown[shown] += 1
        result.rows.append(Row(line=line, key=key, text=text, created_at=created, resolved_at=resolved,
                               category=category, institution=institution, address=address, answer=answer))
    # already loaded by an earlier run
    loaded: set[str] = set()
    all_keys = [r.key for r in result.rows]
    for i in range(0, len(all_keys), 5000):
        loaded.update(db.session.scalars(select(Ticket.import_key).where(Ticket.import_key.in_(all_keys[i:i + 5000]))))
    if loaded:
        result.already += sum(1 for r in result.rows if r.key in loaded)
        result.rows = [r for r in result.rows if r.key not in loaded]
    return result


# --- writing ----------------------------------------------------------------------------------------------
def default_policy() -> SlaPolicy:
    """The rubrics' most used SLA policy; without any, one made for the import."""
    policy_id = db.session.scalar(select(Category.sla_policy_id).group_by(Category.sla_policy_id)
                                  .order_by(func.count().desc(), Category.sla_policy_id).limit(1))
    policy = db.session.get(SlaPolicy, policy_id) if policy_id else None
    policy = policy or db.session.scalar(select(SlaPolicy).order_by(SlaPolicy.id).limit(1))
    if policy is None:
        name, first, resolution, business_hours = DEFAULT_POLICY
        policy = SlaPolicy(name=name, first_response_minutes=first, resolution_minutes=resolution,
                           business_hours=business_hours)
        db.session.add(policy)
        db.session.flush()
    return policy


def find_direction(code: str | None) -> Direction:
    """The direction new institutions go to: `--direction` (code, name or id), else the city hall's (the
    direction «government»), else the first one."""
    if code:
        key = name_key(code)
        for d in db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id)):
            if key in (name_key(d.code), name_key(d.name), str(d.id)):
                return d
        raise ImportProblem(f"Направление «{code}» не найдено.")
    d = db.session.scalar(select(Direction).where(Direction.code == "government"))
    d = d or db.session.scalar(select(Direction).order_by(Direction.sort_order, Direction.id).limit(1))
    if d is None:
        raise ImportProblem("Нет ни одного направления: создайте направление или укажите --direction.")
    return d


def _unique_code(base: str, taken: set[str]) -> str:
    base = (slugify(base, 50) or "rubric")
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}-{n}"
    taken.add(code)
    return code


def create_missing(p: Plan, direction_code: str | None = None) -> tuple[list[str], list[str]]:
    """Create the plan's unknown rubrics (with the default SLA policy) and institutions (in the direction);
    the caller commits. Returns the names created."""
    made_c, made_i = [], []
    if p.unknown_categories:
        policy = default_policy()
        taken = set(db.session.scalars(select(Category.code)))
        for name in p.unknown_categories:
            c = Category(code=_unique_code(name, taken), name=name[:200], sla_policy_id=policy.id, keywords="")
            db.session.add(c)
            db.session.flush()
            p.categories[name_key(name)] = c.id
            made_c.append(name)
        p.unknown_categories.clear()
    if p.unknown_institutions:
        direction = find_direction(direction_code)
        for name in p.unknown_institutions:
            inst = Institution(direction_id=direction.id, name=name[:300], short_name=name[:120])
            db.session.add(inst)
            db.session.flush()
            p.institutions[name_key(name)] = inst.id
            made_i.append(name)
        p.unknown_institutions.clear()
    return made_c, made_i


def load(p: Plan, batch: int = 1000, progress: Callable[[int], None] | None = None,
         now: datetime | None = None) -> Result:
    """Write the plan's rows, `batch` rows a transaction (each batch commits). Unknown names must have been
    created (`create_missing`) or the plan refused before."""
    if p.has_unknown:
        raise ImportProblem("В файле есть неизвестные рубрики или учреждения: ничего не загружено.")
    now = now or utcnow()
    batch = max(1, int(batch))
    result = Result(skipped=p.already, bad=len(p.bad))
    defaults = dict(db.session.execute(select(Category.id, Category.default_institution_id)).all())
    tz = ZoneInfo(current_app.config["CITY_TZ"])
    for start in range(0, len(p.rows), batch):
        chunk = p.rows[start:start + batch]
        if _postgres():  # one import batch at a time: the check of the keys and the write are one step
            db.session.execute(select(func.pg_advisory_xact_lock(LOCK)))
            # a batch lost to a crash is loaded again by the next run (idempotent): no need to wait for the flush
            db.session.execute(sql_text("SET LOCAL synchronous_commit = off"))
        there = set(db.session.scalars(select(Ticket.import_key).where(Ticket.import_key.in_([r.key for r in chunk]))))
        todo = [r for r in chunk if r.key not in there]
        result.skipped += len(chunk) - len(todo)
        by_year: dict[int, list[Row]] = {}
        for r in todo:
            by_year.setdefault(r.created_at.astimezone(tz).year, []).append(r)
        numbers: dict[str, str] = {}
        for year in sorted(by_year):
            group = sorted(by_year[year], key=lambda r: (r.created_at, r.line))
            for r, number in zip(group, tickets.reserve_numbers(year, len(group)), strict=True):
                numbers[r.key] = number
        values = []
        for r in todo:
            category_id = p.categories.get(name_key(r.category)) if r.category else None
            institution_id = p.institutions.get(name_key(r.institution)) if r.institution else None
            if institution_id is None and category_id is not None:
                institution_id = defaults.get(category_id)
            values.append({
                "number": numbers[r.key], "status": "closed", "priority": "normal", "network": NETWORK,
                "summary": r.text, "address": r.address, "category_id": category_id,
                "institution_id": institution_id, "regime": "local", "reopen_count": 0, "on_control": False,
                "created_at": r.created_at, "updated_at": r.resolved_at, "resolution_due_at": r.resolved_at,
                "resolved_at": r.resolved_at, "closed_at": r.resolved_at, "imported": True, "import_key": r.key,
                "version": 1,
            })
        result.loaded += _write(values, {r.key: r for r in todo}) if values else 0
        db.session.commit()
        if progress:
            progress(len(chunk))
    if _postgres() and result.loaded >= ANALYZE_AFTER:  # the board's plans see the new rows at once
        for table in ("tickets", "ticket_events", "messages"):
            db.session.execute(sql_text(f"ANALYZE {table}"))
        db.session.commit()
    return result


LOCK = 1_500_015  # pg_advisory_xact_lock key of the import's batches
ANALYZE_AFTER = 10_000  # rows loaded: the tables' statistics are refreshed at the end
TICKET_COLUMNS = ("id", "number", "status", "priority", "network", "summary", "address", "category_id",
                  "institution_id", "regime", "reopen_count", "on_control", "created_at", "updated_at",
                  "resolution_due_at", "resolved_at", "closed_at", "imported", "import_key", "version")
EVENT_COLUMNS = ("ticket_id", "created_at", "kind", "payload")
MESSAGE_COLUMNS = ("network", "external_id", "ticket_id", "kind", "text", "attachments", "raw", "reply_address",
                   "received_at", "triaged_at")


def _message(ticket_id: int, r: Row) -> dict:
    """The appeal's text as the ticket's message (what the ticket page shows), already triaged."""
    return {"network": NETWORK, "external_id": r.key, "ticket_id": ticket_id, "kind": "import", "text": r.text,
            "attachments": [], "raw": {"line": r.line}, "reply_address": {}, "received_at": r.created_at,
            "triaged_at": r.created_at}


def _postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _events(ticket_id: int, r: Row) -> list[dict]:
    closing = {"from": "new", "to": "closed", "imported": True}
    if r.answer:
        closing["comment"] = r.answer
    return [{"ticket_id": ticket_id, "created_at": r.created_at, "kind": "created",
             "payload": {"network": NETWORK, "imported": True, "line": r.line}},
            {"ticket_id": ticket_id, "created_at": r.resolved_at, "kind": "status", "payload": closing}]


def _write(values: list[dict], rows: dict[str, Row]) -> int:
    """Insert the batch's tickets, their two events and their message; returns how many tickets. PostgreSQL:
    ids taken from the sequence in one statement, then COPY; elsewhere (the SQLite demo) plain inserts."""
    if not _postgres():
        table = Ticket.__table__
        ids = {}
        for v in values:
            ids[v["import_key"]] = db.session.execute(table.insert().values(**v)).inserted_primary_key[0]
        db.session.execute(TicketEvent.__table__.insert(),
                           [e for key, tid in ids.items() for e in _events(tid, rows[key])])
        db.session.execute(Message.__table__.insert(), [_message(tid, rows[key]) for key, tid in ids.items()])
        return len(ids)
    ids = db.session.scalars(select(func.nextval("tickets_id_seq")).select_from(func.generate_series(1, len(values))))
    for v, tid in zip(values, ids, strict=True):
        v["id"] = tid
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY tickets ({', '.join(TICKET_COLUMNS)}) FROM STDIN") as copy:
        for v in values:
            copy.write_row([v[c] for c in TICKET_COLUMNS])
    with cursor.copy(f"COPY ticket_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
        for v in values:
            for e in _events(v["id"], rows[v["import_key"]]):
                copy.write_row([e["ticket_id"], e["created_at"], e["kind"], json.dumps(e["payload"],
                                                                                      ensure_ascii=False)])
    with cursor.copy(f"COPY messages ({', '.join(MESSAGE_COLUMNS)}) FROM STDIN") as copy:
        for v in values:
            m = _message(v["id"], rows[v["import_key"]])
            copy.write_row([json.dumps(m[c]) if c in ("attachments", "raw", "reply_address") else m[c]
                            for c in MESSAGE_COLUMNS])
    return len(values)


# --- the setting ------------------------------------------------------------------------------------------
def set_imported_in_stats(actor: User | None, on: bool) -> None:
    """Count imported history on the board and in the open statistics, or not; the kept figures are dropped so
    the next view computes them under the new setting. The caller commits."""
    settings.set(actor, IMPORTED_IN_STATS, bool(on))
    db.session.execute(delete(BoardSnapshot))
