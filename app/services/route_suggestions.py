"""The learned router's suggestion kept on a ticket (Ticket.route_suggestion, made at intake) as the queue and the
ticket page show it: the top three rubrics and institutions with their probabilities, for one-click accept (issue 15,
item 4). One query per kind for a whole page of tickets; inactive rubrics and institutions not receiving appeals are
left out."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import select

from app.extensions import db
from app.models import Category, Institution, Ticket


@dataclass
class Offer:
    category: list[tuple[Category, float]] = field(default_factory=list)
    institution: list[tuple[Institution, float]] = field(default_factory=list)


MIN_SHOWN = 0.05  # a runner-up below 5 % is noise on a busy row; the first choice is always shown


ID_MAX = 2**31 - 1  # an id past PostgreSQL's integer is no rubric (and would fail the query)


def _pairs(raw) -> list[tuple[int, float]]:
    """The first three well-formed [id, probability] pairs of a kept list; anything else (a stored JSON is not
    trusted: ids out of range, booleans, inf/NaN) is skipped, a probability is kept within 0..1."""
    out = []
    for item in raw if isinstance(raw, list | tuple) else ():
        if len(out) == 3:
            break
        if isinstance(item, list | tuple) and len(item) == 2 and type(item[0]) is int and 0 < item[0] <= ID_MAX \
                and type(item[1]) in (int, float) and -2.0 <= item[1] <= 2.0 and math.isfinite(item[1]):
            out.append((item[0], min(1.0, max(0.0, float(item[1])))))
    return [pair for k, pair in enumerate(out) if k == 0 or pair[1] >= MIN_SHOWN]


def offers(tickets: list[Ticket], *, missing_only: bool = True) -> dict[int, Offer]:
    """ticket id → its offer. `missing_only`: only the half the ticket lacks (the queue: a rubric for a ticket
    without one, an institution for a ticket without one); else both halves, but never the value it already has."""
    wanted = {}
    cat_ids, inst_ids = set(), set()
    for t in tickets:
        s = t.route_suggestion if isinstance(t.route_suggestion, dict) else None
        if not s:
            continue
        cats = _pairs(s.get("category")) if (t.category_id is None or not missing_only) else []
        insts = _pairs(s.get("institution")) if (t.institution_id is None or not missing_only) else []
        cats = [(i, p) for i, p in cats if i != t.category_id]
        insts = [(i, p) for i, p in insts if i != t.institution_id]
        if cats or insts:
            wanted[t.id] = (cats, insts)
            cat_ids.update(i for i, _ in cats)
            inst_ids.update(i for i, _ in insts)
    if not wanted:
        return {}
    categories = {c.id: c for c in db.session.scalars(
        select(Category).where(Category.id.in_(cat_ids), Category.is_active.is_(True)))} if cat_ids else {}
    institutions = {i.id: i for i in db.session.scalars(
        select(Institution).where(Institution.id.in_(inst_ids), Institution.is_active.is_(True),
                                  Institution.receives_appeals.is_(True)))} if inst_ids else {}
    out = {}
    for tid, (cats, insts) in wanted.items():
        offer = Offer([(categories[i], p) for i, p in cats if i in categories],
                      [(institutions[i], p) for i, p in insts if i in institutions])
        if offer.category or offer.institution:
            out[tid] = offer
    return out
