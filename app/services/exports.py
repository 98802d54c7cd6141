"""The one XLSX writer for every export (queue, /my, the board, the digest) and personal data masking.

`workbook(sheets, about)` streams rows through openpyxl's write-only mode (constant memory for big lists),
cuts each sheet at EXPORT_MAX_ROWS and says so on the first sheet «Параметры», which also records what was
exported, by whom, when (city time) and with which filters. Dates are real Excel dates in the city's time zone.

Masking (152-ФЗ, data minimisation): `access.can_see_personal_data(user)` decides; `resident_cell()` and
`mask_text()` are what every export uses for the resident and for free text.
"""
from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Response, current_app
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from app.models import (
    NETWORK_LABELS,
    PRIORITY_LABELS,
    STATUS_LABELS,
    Category,
    Direction,
    Institution,
    Resident,
    Ticket,
    utcnow,
)
from app.services import access, queue

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KINDS = ("text", "int", "percent", "datetime", "date", "duration")
DATETIME_FORMAT = "DD.MM.YYYY HH:MM"
DATE_FORMAT = "DD.MM.YYYY"
PERCENT_FORMAT = "0.0%"
DURATION_FORMAT = "[h]:mm"  # hours may exceed 24
MAX_CELL_CHARS = 32767  # Excel's limit per cell
PARAMS_TITLE = "Параметры"
_WIDTH = {"int": 10, "percent": 10, "datetime": 17, "date": 12, "duration": 11}
_BOLD = Font(bold=True)


@dataclass
class Sheet:
    """One worksheet: a Russian title, column headers, rows (any iterable: a generator streams),
    optional column kinds (text, int, percent, datetime, date, duration) and widths (characters).

    percent: a number of percent (87.5 → 87,5 %); datetime: an aware datetime (shown in city time);
    duration: a timedelta or a number of minutes."""

    title: str
    headers: Sequence[str]
    rows: Iterable[Sequence]
    kinds: Sequence[str] | None = None
    widths: Sequence[int | None] | None = None
    # filled by workbook(): how many rows were written and whether the list was cut
    written: int = field(default=0, init=False)
    cut: bool = field(default=False, init=False)


@dataclass
class About:
    """What the first sheet «Параметры» says: what was exported, by whom, with which filters."""

    what: str
    by: str = ""
    filters: Sequence[tuple[str, str]] = ()
    masked: bool | None = None  # None: the export has no personal data
    at: datetime | None = None  # default: now


def sheet_title(title: str, taken: Iterable[str] = ()) -> str:
    """A valid, unique worksheet name: no []:*?/\\ , at most 31 characters, never empty."""
    clean = re.sub(r"[\[\]:*?/\\]", " ", ILLEGAL_CHARACTERS_RE.sub("", str(title or "")))
    clean = re.sub(r"\s+", " ", clean).strip().strip("'") or "Лист"
    clean = clean[:31].rstrip()
    existing = {t.casefold() for t in taken}
    candidate, n = clean, 2
    while candidate.casefold() in existing or candidate.casefold() == "history":
        suffix = f" ({n})"
        candidate = clean[:31 - len(suffix)].rstrip() + suffix
        n += 1
    return candidate


def city_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["CITY_TZ"])


def to_city_naive(value: datetime) -> datetime:
    """Excel has no time zones: the city's wall-clock time (UTC assumed for a naive value)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(city_tz()).replace(tzinfo=None, microsecond=0)


def _text(value) -> str:
    s = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    return s if len(s) <= MAX_CELL_CHARS else s[:MAX_CELL_CHARS - 1] + "…"


def _cell(ws, value, kind: str) -> WriteOnlyCell:
    if value is None or value == "":
        return WriteOnlyCell(ws, value=None)
    if kind == "datetime" and isinstance(value, datetime):
        cell = WriteOnlyCell(ws, value=to_city_naive(value))
        cell.number_format = DATETIME_FORMAT
    elif kind == "date" and isinstance(value, date):
        cell = WriteOnlyCell(ws, value=value.date() if isinstance(value, datetime) else value)
        cell.number_format = DATE_FORMAT
    elif kind == "int" and isinstance(value, int | float) and not isinstance(value, bool):
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "0" if isinstance(value, int) else "0.0"
    elif kind == "percent" and isinstance(value, int | float) and not isinstance(value, bool):
        cell = WriteOnlyCell(ws, value=value / 100)
        cell.number_format = PERCENT_FORMAT
    elif kind == "duration" and isinstance(value, timedelta | int | float) and not isinstance(value, bool):
        minutes = value.total_seconds() / 60 if isinstance(value, timedelta) else value
        cell = WriteOnlyCell(ws, value=timedelta(minutes=minutes))
        cell.number_format = DURATION_FORMAT
    elif isinstance(value, bool):
        cell = WriteOnlyCell(ws, value="да" if value else "нет")
    else:
        cell = WriteOnlyCell(ws, value=_text(value))
        cell.data_type = "s"  # never a formula: «=HYPERLINK(…)» from a resident stays text
    return cell


def _header_cell(ws, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=_text(text))
    cell.data_type = "s"
    cell.font = _BOLD
    return cell


def _width(header: str, kind: str, given: int | None) -> float:
    if given:
        return given
    base = _WIDTH.get(kind, 18)
    return min(max(base, len(header) + 3), 60)


def max_rows_default() -> int:
    return int(current_app.config.get("EXPORT_MAX_ROWS", 100_000))


def workbook(sheets: list[Sheet], about: About | None = None, max_rows: int | None = None) -> bytes:
    """The XLSX file: «Параметры» first (when `about` is given), then each sheet with a bold frozen header
    row, an autofilter and fixed column widths. Each sheet is cut at `max_rows` (EXPORT_MAX_ROWS)."""
    limit = max_rows if max_rows is not None else max_rows_default()
    wb = Workbook(write_only=True)
    params = wb.create_sheet(PARAMS_TITLE) if about is not None else None
    taken = [PARAMS_TITLE] if params is not None else []
    for sheet in sheets:
        title = sheet_title(sheet.title, taken)
        taken.append(title)
        ws = wb.create_sheet(title)
        n = len(sheet.headers)
        kinds = list(sheet.kinds or ()) + ["text"] * (n - len(sheet.kinds or ()))
        widths = list(sheet.widths or ()) + [None] * (n - len(sheet.widths or ()))
        for i, header in enumerate(sheet.headers, start=1):
            ws.column_dimensions[get_column_letter(i)].width = _width(str(header), kinds[i - 1], widths[i - 1])
        ws.freeze_panes = "A2"
        ws.append([_header_cell(ws, h) for h in sheet.headers])
        written = 0
        for row in sheet.rows:
            if written >= limit:
                sheet.cut = True
                break
            ws.append([_cell(ws, v, kinds[i] if i < n else "text") for i, v in enumerate(row)])
            written += 1
        sheet.written = written
        if n:
            ws.auto_filter.ref = f"A1:{get_column_letter(n)}{written + 1}"
    if params is not None:
        _write_params(params, about, sheets, limit)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _write_params(ws, about: About, sheets: list[Sheet], limit: int) -> None:
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 80
    wrap = Alignment(wrap_text=True, vertical="top")

    def line(label: str, value="", kind: str = "text", bold: bool = False):
        head = _header_cell(ws, label) if bold or label else WriteOnlyCell(ws, value=None)
        cell = _cell(ws, value, kind)
        cell.alignment = wrap
        ws.append([head, cell])

    line("Выгрузка", about.what, bold=True)
    line("Сформировал", about.by or "—")
    at = about.at or utcnow()
    line(f"Когда ({current_app.config['CITY_TZ']})", at, "datetime")
    line("Город", current_app.config.get("CITY_NAME", ""))
    if about.filters:
        for i, (name, value) in enumerate(about.filters):
            line("Фильтры" if i == 0 else "", f"{name}: {value}")
    else:
        line("Фильтры", "без фильтров: все доступные записи")
    if about.masked is not None:
        line("Персональные данные", "скрыты (маскированы) по роли сотрудника" if about.masked
             else "показаны полностью (роль разрешает)")
    for sheet in sheets:
        line(f"Строк: {sheet_title(sheet.title)}", sheet.written, "int")
    cut = [s for s in sheets if s.cut]
    for sheet in cut:
        line("Внимание", f"Список «{sheet_title(sheet.title)}» обрезан: выгружены первые {limit:,} строк "
                         "(предел EXPORT_MAX_ROWS). Уточните фильтры, чтобы получить остальное."
             .replace(",", " "), bold=True)


# --- the Flask response ----------------------------------------------------------------------------------------
_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r",
                      "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"], strict=True))


def ascii_filename(filename: str) -> str:
    """A transliterated ASCII fallback for old clients: «Очередь 2026.xlsx» → «Ochered_2026.xlsx»."""
    out = []
    for ch in filename:
        low = ch.lower()
        if low in _TRANSLIT:
            t = _TRANSLIT[low]
            out.append(t.capitalize() if ch != low else t)
        else:
            out.append(unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode())
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", "".join(out)).strip("._") or "export"
    return name if name.lower().endswith(".xlsx") else name + ".xlsx"


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII `filename` and the real (Russian) name in RFC 5987 `filename*`."""
    filename = re.sub(r'[\x00-\x1f"\\/]+', "_", filename)
    return f"attachment; filename=\"{ascii_filename(filename)}\"; filename*=UTF-8''{quote(filename, safe='')}"


def xlsx_response(data: bytes, filename: str) -> Response:
    resp = Response(data, mimetype=XLSX_MIME)
    resp.headers["Content-Disposition"] = content_disposition(filename)
    resp.headers["Cache-Control"] = "no-store"  # may hold personal data: no caches on the way
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# --- personal data masking ---------------------------------------------------------------------------------------
MASK = "*"
_EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-]+)@([\w-]+(?:\.[\w-]+)+)", re.UNICODE)
# Russian phone numbers in free text: +7 / 8 / 7 prefix (optional), 10 digits in usual groupings.
# Not ticket numbers (БЛГ-2026-000123), dates or house numbers: the groups must look like a phone.
_PHONE_RE = re.compile(
    r"(?<![\w+])(?:(?:\+\s?7|8|7)[\s\-]?)?\(?\d{3}\)?[\s\-]?\d{3}[\s\-]?\d{2}[\s\-]?\d{2}(?![\w])")


def mask_name(name: str | None) -> str:
    """«Иван Петров» → «Иван П.»: the first word, then initials (a contact or an e-mail inside is masked too)."""
    if not name:
        return ""
    words = mask_text(str(name)).split()
    if len(words) <= 1:
        return " ".join(words)
    return " ".join([words[0]] + [w[0].upper() + "." for w in words[1:] if w[0].isalnum()])


def mask_phone(phone: str | None) -> str:
    """«+7 914 123-45-67» → «+7 914 ***-**-67»: the country and operator code and the last two digits stay,
    the formatting is kept."""
    if not phone:
        return ""
    digits = sum(ch.isdigit() for ch in phone)
    head = max(0, digits - 7)
    tail_from = digits - 2
    out, i = [], 0
    for ch in phone:
        if ch.isdigit():
            out.append(ch if i < head or i >= tail_from else MASK)
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_email(email: str | None) -> str:
    """«ivan@mail.ru» → «i***@mail.ru»."""
    if not email:
        return ""
    local, at, domain = str(email).strip().rpartition("@")
    if not at:
        return MASK * 3
    return (local[:1] or "") + MASK * 3 + "@" + domain


def mask_text(text: str | None) -> str:
    """Phone numbers and e-mails found in free text (a ticket's summary), masked."""
    if not text:
        return text or ""
    text = _EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_RE.sub(lambda m: mask_phone(m.group(0)), text)


def resident_cell(name: str | None, phone: str | None = None, email: str | None = None, *,
                  masked: bool) -> str:
    """The «Житель» column of every export: name, phone, e-mail; masked unless the role may see them."""
    if masked:
        parts = [mask_name(name), mask_phone(phone), mask_email(email)]
    else:
        parts = [name or "", phone or "", email or ""]
    return ", ".join(p for p in (s.strip() for s in parts) if p)


def free_text(text: str | None, *, masked: bool) -> str:
    """Free text for an export: contacts inside masked when masking is on."""
    return mask_text(text) if masked else (text or "")


# --- the ticket list (queue, /my): one sheet, the queue's filters and visibility ----------------------------------
TICKET_HEADERS = ("Номер", "Поступило", "Статус", "Приоритет", "Направление", "Учреждение", "Рубрика", "Сеть",
                  "Житель", "Адрес", "Суть", "Срок решения", "Просрочено", "Решено", "Оценка")
TICKET_KINDS = ("text", "datetime", "text", "text", "text", "text", "text", "text",
                "text", "text", "text", "datetime", "text", "datetime", "int")
TICKET_WIDTHS = (17, 17, 20, 11, 22, 30, 24, 14, 30, 30, 60, 17, 12, 17, 8)


def ticket_rows(user, filters, *, masked: bool, now: datetime | None = None, batch: int = 1000):
    """The rows of a ticket list export, in the queue's order, with the queue's filters and visibility rule."""

    now = now or utcnow()
    columns = (Ticket.number, Ticket.created_at, Ticket.status, Ticket.priority, Direction.name,
               Institution.short_name, Category.name, Ticket.network, Resident.display_name,
               Resident.external_id, Resident.phone, Resident.email, Ticket.address, Ticket.summary,
               Ticket.resolution_due_at, Ticket.is_overdue(now), Ticket.resolved_at, Ticket.rating)
    joins = ((Institution, Ticket.institution_id == Institution.id),
             (Direction, Institution.direction_id == Direction.id),
             (Category, Ticket.category_id == Category.id),
             (Resident, Ticket.resident_id == Resident.id))
    for (number, created, status, priority, direction, institution, category, network, name, resident_ext, phone,
         email, address, summary, due, overdue, resolved, rating) in queue.scan(user, filters, columns, joins,
                                                                                batch=batch, now=now):
        if not name and network == "vk" and resident_ext:
            name = f"id{resident_ext}"  # not named yet by VK (Resident.name)
        yield (number, created, str(STATUS_LABELS.get(status, status)), str(PRIORITY_LABELS.get(priority, priority)),
               direction, institution, category, str(NETWORK_LABELS.get(network, network)),
               resident_cell(name, phone, email, masked=masked), address, free_text(summary, masked=masked),
               due, "да" if overdue else "нет", resolved, rating)


def tickets_sheet(user, filters, title: str = "Обращения", now: datetime | None = None) -> Sheet:
    """The ticket list as a Sheet; personal data masked unless `access.can_see_personal_data(user)`."""
    masked = not access.can_see_personal_data(user)
    return Sheet(title, TICKET_HEADERS, ticket_rows(user, filters, masked=masked, now=now), TICKET_KINDS,
                 TICKET_WIDTHS)


def tickets_workbook(user, filters, what: str, described, now: datetime) -> tuple[bytes, str]:
    """A ticket list (the queue's filters, every page) as an XLSX workbook and its file name «<what> <stamp>.xlsx»;
    personal data masked unless the user's role may see it. `described`: the filters as the «about» sheet says."""
    about = About(what=what, by=f"{user.display_name} ({user.role_label})", filters=described,
                  masked=not access.can_see_personal_data(user), at=now)
    data = workbook([tickets_sheet(user, filters, "Обращения", now=now)], about)
    return data, f"{what} {to_city_naive(now).strftime('%Y-%m-%d %H-%M')}.xlsx"
