"""`flask accounts import-history FILE.csv`: past figures, so a city keeps the history it had before the app.

Columns: date, account address (its URL or @name, as on the account), subscribers, posts. UTF-8 with or without
BOM; `;` or `,` between columns (found from the first line); dates dd.mm.yyyy or yyyy-mm-dd; a header line is
allowed; spaces inside numbers («12 345») are fine. The whole file is checked first: with any bad row nothing is
written and every bad row is reported with its line number (or, with `skip_bad`, the good rows are written and
the bad ones reported as skipped). A day the account already has is updated; rows are marked source "import".
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select

from app.extensions import db
from app.models import Account, AccountSnapshot
from app.models.base import insert_or_ignore
from app.services.accounts.platforms import PlatformError, parse_address

MAX_BYTES = 50 * 1024 * 1024
MAX_FIGURE = 1_000_000_000
EARLIEST = date(2000, 1, 1)
CHUNK = 1000
HEADER_WORDS = ("дата", "date", "адрес", "account", "подписчик", "subscriber")


@dataclass
class Report:
    written: int = 0
    accounts: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong)
    skipped: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _date(text: str) -> date | None:
    text = text.strip()
    for fmt in ("%d.%m.%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _number(text: str) -> int | None:
    text = re.sub(r"[\s\u00a0\u202f]", "", text or "")
    return int(text) if text.isascii() and text.isdigit() and int(text) <= MAX_FIGURE else None


def _norm_url(url: str) -> str:
    url = re.sub(r"^[a-z]+://", "", (url or "").strip().lower())
    url = url[4:] if url.startswith("www.") else url
    return url.rstrip("/")


class _Finder:
    """An address as written in the file → the account: by its URL, or by network and handle (or OK group id)."""

    def __init__(self):
        self.by_url: dict[str, int] = {}
        self.by_handle: dict[tuple[str, str], int] = {}
        for acc in db.session.scalars(select(Account)):
            self.by_url[_norm_url(acc.url)] = acc.id
            self.by_handle[(acc.network, (acc.handle or "").lower())] = acc.id
            if acc.external_id:
                self.by_handle.setdefault((acc.network, f"group/{acc.external_id}"), acc.id)
                self.by_handle.setdefault((acc.network, str(acc.external_id).lower()), acc.id)

    def find(self, address: str) -> int | None:
        found = self.by_url.get(_norm_url(address))
        if found is not None:
            return found
        try:
            network, handle = parse_address(address)
        except PlatformError:
            return None
        return self.by_handle.get((network, handle.lower()))


def _rows(data: bytes) -> tuple[list[tuple[int, list[str]]], str | None]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], "файл не в кодировке UTF-8: сохраните его как «CSV UTF-8»"
    first = text.split("\n", 1)[0]
    sep = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    return [(reader.line_num, row) for row in reader], None


def import_history(data: bytes, *, skip_bad: bool = False, today: date | None = None) -> Report:
    """Check and load a history file (bytes). The caller commits (nothing is written when the report has errors
    and `skip_bad` is off)."""
    report = Report()
    if len(data) > MAX_BYTES:
        report.errors.append((0, f"файл больше {MAX_BYTES // 1024 // 1024} МБ: разделите его"))
        return report
    rows, problem = _rows(data)
    if problem:
        report.errors.append((0, problem))
        return report
    today = today or date.today()
    finder = _Finder()
    good: dict[tuple[int, date], dict] = {}
    for number, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        if number == rows[0][0] and _date(row[0]) is None and \
                any(word in ";".join(row).lower() for word in HEADER_WORDS):
            continue  # the header line
        cells = [c.strip() for c in row]
        if len(cells) < 4:
            report.errors.append((number, f"нужно 4 столбца (дата, адрес, подписчики, публикации), а их {len(cells)}"))
            continue
        day, address, followers, posts = _date(cells[0]), cells[1], _number(cells[2]), _number(cells[3])
        if day is None:
            report.errors.append((number, f"дата «{cells[0][:20]}» не в виде ДД.ММ.ГГГГ или ГГГГ-ММ-ДД"))
            continue
        if not EARLIEST <= day <= today:
            report.errors.append((number, f"дата {day:%d.%m.%Y} вне допустимого (с 01.01.2000 по сегодня)"))
            continue
        account_id = finder.find(address) if address else None
        if account_id is None:
            report.errors.append((number, f"аккаунт «{address[:80]}» не найден: укажите адрес, как у аккаунта"))
            continue
        if followers is None or posts is None:
            bad = cells[2] if followers is None else cells[3]
            report.errors.append((number, f"«{bad[:20]}» — не целое неотрицательное число"))
            continue
        good[(account_id, day)] = {"account_id": account_id, "taken_on": day, "followers": followers,
                                   "posts": posts, "collected_at": None, "source": "import"}
    if report.errors and not skip_bad:
        return report
    report.skipped = len(report.errors)
    values = list(good.values())
    for start in range(0, len(values), CHUNK):
        stmt = insert_or_ignore(AccountSnapshot).values(values[start:start + CHUNK])
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["account_id", "taken_on"],
            set_={"followers": stmt.excluded.followers, "posts": stmt.excluded.posts,
                  "collected_at": stmt.excluded.collected_at, "source": stmt.excluded.source}))
    latest: dict[int, dict] = {}
    for row in values:
        if row["account_id"] not in latest or row["taken_on"] > latest[row["account_id"]]["taken_on"]:
            latest[row["account_id"]] = row
    for account_id, row in latest.items():  # an account never collected shows its latest imported figures
        account = db.session.get(Account, account_id)
        if account.collected_at is None:
            account.followers, account.posts = row["followers"], row["posts"]
    report.written, report.accounts = len(values), len(latest)
    return report
