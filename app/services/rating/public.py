"""The public «Лучшие участники» block on /participants (issue 14, item 3), turned on by a setting.

Setting `public_top` (app/services/settings.py) = {"enabled": bool, "kind": "month" | "quarter" | "year"}; off and
«month» by default; head, press and admin change it (access.can_publish_top) on /rating.

The block shows the last *frozen* closed period of that kind — the newest RatingSnapshot start of the kind whose
period ended before today; a public GET never freezes (the daily job does). Per direction (Direction.sort_order):
the rows with a place ≤ 3 (equal scores share a place, so there may be more than three; «мало данных» has no place
and never shows), only active participants with at least one shown account (Account.shown()), with the frozen place
and score. No frozen period of that kind → no block.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import exists, func, select

from app.extensions import db
from app.models import Account, Direction, Institution, RatingSnapshot, RatingSnapshotRow, User
from app.services import access, settings
from app.services.rating.composite import FEW_DATA, TOP
from app.services.rating.frozen import FROZEN_KINDS, RatingError

KEY = "public_top"
DEFAULT = {"enabled": False, "kind": "month"}


@dataclass
class TopRow:
    place: int
    name: str  # the short name, as the directory shows it
    full_name: str
    slug: str
    score: float | None


@dataclass
class TopDirection:
    code: str
    name: str
    rows: list[TopRow] = field(default_factory=list)


@dataclass
class TopBlock:
    kind: str
    start: date
    end: date
    directions: list[TopDirection]


def public_top() -> dict:
    """The setting as stored, junk read as the default: {"enabled": bool, "kind": month|quarter|year}."""
    raw = settings.get(KEY, None)
    raw = raw if isinstance(raw, dict) else {}
    kind = raw.get("kind")
    return {"enabled": raw.get("enabled") is True, "kind": kind if kind in FROZEN_KINDS else DEFAULT["kind"]}


def set_public_top(actor: User | None, enabled: bool, kind: str) -> dict:
    """Turn the block on or off and choose its period; the caller commits."""
    if not access.can_publish_top(actor):
        raise PermissionError("Включать блок «Лучшие участники» может глава, пресс-служба или администратор.")
    if kind not in FROZEN_KINDS:
        raise RatingError("Период блока — месяц, квартал или год; выберите один из них.")
    value = {"enabled": bool(enabled), "kind": kind}
    settings.set(actor, KEY, value)
    return value


def last_frozen_start(kind: str, today: date) -> date | None:
    """The start of the newest frozen period of `kind` that ended before `today` (any direction)."""
    return db.session.scalar(select(func.max(RatingSnapshot.start))
                             .where(RatingSnapshot.kind == kind, RatingSnapshot.end < today))


def best_participants(kind: str, today: date) -> TopBlock | None:
    """The frozen top three of every direction over the last closed, frozen period of `kind`; None when nothing."""
    if kind not in FROZEN_KINDS:
        return None
    start = last_frozen_start(kind, today)
    if start is None:
        return None
    shown = exists().where(Account.institution_id == Institution.id, Account.shown())
    stmt = (select(Direction.id, Direction.code, Direction.name, RatingSnapshot.end, RatingSnapshotRow.place,
                   RatingSnapshotRow.score, RatingSnapshotRow.flags, Institution.short_name, Institution.name,
                   Institution.slug)
            .join(RatingSnapshot, RatingSnapshot.direction_id == Direction.id)
            .join(RatingSnapshotRow, RatingSnapshotRow.snapshot_id == RatingSnapshot.id)
            .join(Institution, Institution.id == RatingSnapshotRow.institution_id)
            .where(RatingSnapshot.kind == kind, RatingSnapshot.start == start, RatingSnapshot.end < today,
                   RatingSnapshotRow.place.is_not(None), RatingSnapshotRow.place <= TOP,
                   Institution.is_active.is_(True), shown)
            .order_by(Direction.sort_order, Direction.id, RatingSnapshotRow.place, Institution.short_name,
                      Institution.id))
    groups: dict[int, TopDirection] = {}
    end = None
    for d_id, code, d_name, p_end, place, score, flags, short, name, slug in db.session.execute(stmt):
        if FEW_DATA in (flags or []):
            continue
        end = p_end
        group = groups.setdefault(d_id, TopDirection(code, d_name))
        group.rows.append(TopRow(place, short or name, name, slug, round(score, 1) if score is not None else None))
    if not groups:
        return None
    return TopBlock(kind, start, end, list(groups.values()))


def block(today: date) -> TopBlock | None:
    """What /participants shows: the block when the setting is on and something is frozen, else None."""
    setting = public_top()
    if not setting["enabled"]:
        return None
    return best_participants(setting["kind"], today)
