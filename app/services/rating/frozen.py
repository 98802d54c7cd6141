"""Frozen ratings, «к поощрению» marks and clearances of «проверить накрутку» (issue 14, item 4).

A month's (quarter's, year's) rating of a direction is frozen once the period has closed (its last city day is
before today): every row — place, score, flags, ranks and the figures as plain numbers — is stored and never
recomputed, so a decision taken on it can be shown later even after snapshots or posts change. The head marks
participants of a frozen rating «к поощрению» with a note; `marked_export` gives the list as XLSX, the basis
for an order. A person clears an implausible one-day jump (`clear_jump`): composite's `implausible_jumps` no
longer flags that (account, day), so the growth is ranked again (in live ratings and in periods frozen later).
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import (
    Account,
    Direction,
    GrowthClearance,
    Institution,
    RatingMark,
    RatingSnapshot,
    RatingSnapshotRow,
    User,
    utcnow,
)
from app.services import access, exports
from app.services.board.periods import Period, _add_months
from app.services.board.periods import today as city_today
from app.services.rating import standing as standing_mod
from app.services.rating.composite import CHECK_GROWTH, FEW_DATA, RANKED, implausible_jumps
from app.services.rating.page import COLUMNS

FROZEN_KINDS = ("month", "quarter", "year")
FIGURE_FIELDS = standing_mod.FIGURE_FIELDS  # the figures kept in a frozen row, with their Russian headers


RatingError = standing_mod.RatingError
full_period = standing_mod.full_period


def last_closed(kind: str, now: datetime) -> Period:
    """The last whole month / quarter / year before today (city time)."""
    current = full_period(kind, city_today(now))
    if kind == "year":
        return full_period(kind, date(current.start.year - 1, 1, 1))
    return full_period(kind, _add_months(current.start, -1 if kind == "month" else -3))


def _snapshot(kind: str, start: date, direction_id: int) -> RatingSnapshot | None:
    return db.session.scalar(select(RatingSnapshot).where(RatingSnapshot.kind == kind, RatingSnapshot.start == start,
                                                          RatingSnapshot.direction_id == direction_id))


def freeze(kind: str, start: date, direction_id: int, now: datetime | None = None) -> RatingSnapshot:
    """Freeze a direction's closed month / quarter / year; a second call keeps (and returns) the first."""
    now = now or utcnow()
    period = full_period(kind, start)
    if period.end >= city_today(now):
        raise RatingError("Период %(start)s — %(end)s ещё не закончился: заморозить можно только закрытый период.",
                          start=f"{period.start:%d.%m.%Y}", end=f"{period.end:%d.%m.%Y}")
    existing = _snapshot(period.kind, period.start, direction_id)
    if existing is not None:
        return existing
    computed = standing_mod.compute(direction_id, period, now)
    try:
        with db.session.begin_nested():
            snap = RatingSnapshot(kind=period.kind, start=period.start, end=period.end, direction_id=direction_id,
                                  frozen_at=now)
            db.session.add(snap)
            db.session.flush()
            db.session.add_all(RatingSnapshotRow(snapshot_id=snap.id, **stored_row(r)) for r in computed["rows"])
            db.session.flush()
    except IntegrityError:  # another worker froze it in the meantime: keep theirs
        return _snapshot(period.kind, period.start, direction_id)
    return snap


def freeze_closed(now: datetime | None = None) -> int:
    """Freeze every direction's last closed month, quarter and year not frozen yet; returns how many were."""
    now = now or utcnow()
    done = 0
    for direction_id in db.session.scalars(select(Direction.id).order_by(Direction.id)):
        for kind in FROZEN_KINDS:
            p = last_closed(kind, now)
            if _snapshot(kind, p.start, direction_id) is None:
                freeze(kind, p.start, direction_id, now)
                done += 1
    return done


def stored_row(row: dict) -> dict:
    """A computed row as a frozen row's columns (how many were ranked on each component kept in the figures)."""
    figures = dict(row["figures"], of=row.get("of") or {})
    return {"institution_id": row["institution_id"], "place": row["place"], "score": row["score"],
            "flags": list(row["flags"]), "ranks": dict(row["ranks"]), "figures": figures}


def frozen_rows(snap: RatingSnapshot) -> list[RatingSnapshotRow]:
    rows = db.session.scalars(select(RatingSnapshotRow).where(RatingSnapshotRow.snapshot_id == snap.id)).all()
    return sorted(rows, key=lambda r: (r.place is None, r.place or 0, r.institution_id))


def frozen_or_live(direction_id: int, period: Period, now: datetime | None = None) -> dict:
    """A closed, frozen month / quarter / year: the frozen standing; anything else: the standing kept or computed
    now (standing.py)."""
    return standing_mod.standing(direction_id, period, now)


# --- «к поощрению» ------------------------------------------------------------------------------------------
def _ensure_head(actor: User | None) -> None:
    if not access.can_mark_encouragement(actor):
        raise PermissionError("Отметить «к поощрению» может только глава.")


def _institution(institution_id) -> Institution:
    inst = db.session.get(Institution, institution_id) if isinstance(institution_id, int) else None
    if inst is None:
        raise RatingError("Участник не найден — обновите страницу и выберите его в таблице рейтинга.")
    return inst


def mark(actor: User | None, institution_id: int, period: Period, note: str = "",
         now: datetime | None = None) -> RatingMark:
    """The head marks a participant «к поощрению» on the frozen rating of a closed period (freezing it if the job
    has not yet); marking again replaces the note."""
    _ensure_head(actor)
    inst = _institution(institution_id)
    snap = freeze(period.kind, period.start, inst.direction_id, now)
    note = (note or "").strip()[:4000]
    existing = db.session.scalar(select(RatingMark).where(RatingMark.snapshot_id == snap.id,
                                                          RatingMark.institution_id == inst.id))
    if existing is not None:
        existing.note, existing.marked_by_id, existing.marked_at = note, actor.id, now or utcnow()
        return existing
    m = RatingMark(snapshot_id=snap.id, institution_id=inst.id, note=note, marked_by_id=actor.id,
                   marked_at=now or utcnow())
    db.session.add(m)
    db.session.flush()
    return m


def unmark(actor: User | None, institution_id: int, period: Period) -> bool:
    """Take the mark off; False when there was none."""
    _ensure_head(actor)
    inst = _institution(institution_id)
    p = full_period(period.kind, period.start)
    snap = _snapshot(p.kind, p.start, inst.direction_id)
    if snap is None:
        return False
    m = db.session.scalar(select(RatingMark).where(RatingMark.snapshot_id == snap.id,
                                                   RatingMark.institution_id == inst.id))
    if m is None:
        return False
    db.session.delete(m)
    db.session.flush()
    return True


def marks(period: Period) -> list[RatingMark]:
    """The marks of a period, every direction: by direction, then place."""
    p = full_period(period.kind, period.start)
    stmt = (select(RatingMark).join(RatingSnapshot, RatingSnapshot.id == RatingMark.snapshot_id)
            .outerjoin(RatingSnapshotRow, (RatingSnapshotRow.snapshot_id == RatingMark.snapshot_id)
                       & (RatingSnapshotRow.institution_id == RatingMark.institution_id))
            .where(RatingSnapshot.kind == p.kind, RatingSnapshot.start == p.start)
            .order_by(RatingSnapshot.direction_id, RatingSnapshotRow.place.nulls_last(), RatingMark.institution_id))
    return list(db.session.scalars(stmt))


RANK_HEADERS = {c[5]: c[2] for c in COLUMNS if c[5]}  # component → its Russian header (as /rating/export.xlsx)
FLAG_WORDS = {FEW_DATA: "мало данных", CHECK_GROWTH: "проверить накрутку"}
EXPORT_HEADER = (["Участник", "Направление", "Место", "Балл"] + list(FIGURE_FIELDS.values())
                 + [f"Ранг: {RANK_HEADERS.get(name, name)}" for name in RANKED]
                 + ["Отметки", "Примечание", "Отметил", "Когда"])
EXPORT_KINDS = (["text", "text", "int", "int"] + ["int"] * (len(FIGURE_FIELDS) + len(RANKED))
                + ["text", "text", "text", "datetime"])


def _marked_rows(p: Period):
    for m in marks(p):
        snap = db.session.get(RatingSnapshot, m.snapshot_id)
        row = db.session.scalar(select(RatingSnapshotRow).where(RatingSnapshotRow.snapshot_id == m.snapshot_id,
                                                                RatingSnapshotRow.institution_id == m.institution_id))
        inst = db.session.get(Institution, m.institution_id)
        direction = db.session.get(Direction, snap.direction_id)
        who = db.session.get(User, m.marked_by_id) if m.marked_by_id else None
        figs = row.figures if row else {}
        ranks = row.ranks if row else {}
        yield ([inst.name, direction.name, row.place if row else None,
                round(row.score, 2) if row and row.score is not None else None]
               + [figs.get(name) for name in FIGURE_FIELDS]
               + [ranks.get(name) for name in RANKED]
               + [", ".join(FLAG_WORDS.get(f, f) for f in sorted(row.flags or ())) if row else "", m.note,
                  who.display_name if who else "", m.marked_at])


def marked_export(period: Period) -> bytes:
    """The marked participants of a period as XLSX, with their frozen figures: the basis for an order. Written by
    the one XLSX writer (services/exports): a name or note starting with «=» stays text, control characters are
    dropped, the time is the city's."""
    p = full_period(period.kind, period.start)
    sheet = exports.Sheet(f"К поощрению {p.start:%m.%Y}", EXPORT_HEADER, _marked_rows(p), EXPORT_KINDS, (36, 24))
    return exports.workbook([sheet])


# --- «проверить накрутку» cleared by a person -----------------------------------------------------------
def clear_jump(actor: User | None, account_id: int, day: date, note: str = "",
               now: datetime | None = None) -> GrowthClearance:
    """A person (the head, the press service, an admin — who sees the rating) clears an implausible rise of an
    account on a day: it is no longer flagged and the growth is ranked again. Clearing twice keeps the first."""
    if not access.can_clear_jumps(actor):
        raise PermissionError("Снять отметку «проверить накрутку» может глава, пресс-служба или администратор.")
    if not isinstance(account_id, int) or db.session.get(Account, account_id) is None:
        raise RatingError("Аккаунт не найден — обновите страницу и попробуйте ещё раз.")
    existing = db.session.scalar(select(GrowthClearance).where(GrowthClearance.account_id == account_id,
                                                               GrowthClearance.day == day))
    if existing is not None:
        return existing
    inst_id = db.session.scalar(select(Account.institution_id).where(Account.id == account_id))
    flagged = implausible_jumps([inst_id], Period("custom", day, day)).get(inst_id, [])
    if not any(a == account_id and d == day for a, d, _before, _after in flagged):
        # nothing to clear: a junk day must neither record a clearance nor re-freeze the direction's ratings
        raise RatingError("У аккаунта нет роста «проверить накрутку» в этот день — обновите страницу.")
    c = GrowthClearance(account_id=account_id, day=day, cleared_by_id=actor.id, cleared_at=now or utcnow(),
                        note=(note or "").strip()[:4000])
    db.session.add(c)
    db.session.flush()
    direction_id = db.session.scalar(select(Institution.direction_id).join(Account, Account.institution_id
                                                                           == Institution.id)
                                     .where(Account.id == account_id))
    standing_mod.forget(direction_id)  # the kept computations flagged it: recomputed on the next view
    refreeze_unmarked(direction_id, day, now)
    return c


def refreeze_unmarked(direction_id: int, day: date, now: datetime | None = None) -> int:
    """Freeze again the direction's frozen ratings that hold `day` and that nobody has marked yet (no decision was
    taken on them): a jump cleared after the freezing counts in them. A rating with a mark stays as it was."""
    marked = select(RatingMark.id).where(RatingMark.snapshot_id == RatingSnapshot.id).exists()
    snaps = db.session.scalars(select(RatingSnapshot).where(RatingSnapshot.direction_id == direction_id,
                                                            RatingSnapshot.start <= day, RatingSnapshot.end >= day,
                                                            ~marked)).all()
    for snap in snaps:
        kind, start = snap.kind, snap.start
        db.session.execute(delete(RatingSnapshotRow).where(RatingSnapshotRow.snapshot_id == snap.id))
        db.session.delete(snap)
        db.session.flush()
        freeze(kind, start, direction_id, now)
    return len(snaps)
