"""Likely repeats («возможный повтор»): an open ticket of the last WINDOW_DAYS days that says the same thing about the
same place as a new one.

* place: the same street of the city's list and the same house (app/services/addresses.py), or the residents' pins
  within DISTANCE_M metres (haversine);
* wording: rapidfuzz WRatio over the texts' stems, without stop words, numbers, the address's own words and words
  every complaint about a yard has («двор», «подъезд», «уже», «день»): two texts naming the same house share those
  anyway. Chosen on the labelled pairs of tests/data/repeat_pairs.py (24 repeats, 22 other problems at the same
  address): token-set ratio gave at best precision 1.00 with recall 0.71, token-sort 0.94/0.63, Jaccard 1.00/0.50,
  WRatio 1.00/0.88 at TEXT_SCORE 75 (0.96/0.92 at 70: 75 keeps a margin). tests/test_repeats.py measures it.

Suggestions are found once at intake (`suggest`) and kept in `repeat_suggestions`, so the queue reads flags instead
of comparing texts per row; a moderator merges one with a click (the merge rules of services/tickets.merge: its
residents keep hearing the answers) or says «не повтор» (`dismiss`).
"""
from __future__ import annotations

import html
import math
import re
from collections import defaultdict
from datetime import datetime, timedelta

from rapidfuzz import fuzz
from sqlalchemy import ARRAY, Integer, and_, any_, bindparam, or_, select
from sqlalchemy.orm import aliased

from app.extensions import db
from app.models import OPEN_STATUSES, RepeatSuggestion, Street, Ticket, User, utcnow
from app.services import access, addresses, batchmemo, tickets
from app.services.board.hotspots import STOP
from app.services.errors import NotFound, ValidationFailed
from app.services.text import words as text_words

WINDOW_DAYS = 14
DISTANCE_M = 150.0
TEXT_SCORE = 75  # WRatio of stems; see the module's docstring
# Two tickets of the same rubric at the same place need less alike wording: residents word one problem differently
# («нет света в подъезде» / «лампочка не горит третий день»), and a different problem at the same house is nearly
# always another rubric. On the evaluation set (tests/data/appeals_eval.csv, pairs at the same address, the street's
# own words left out): WRatio ≥ 75 alone finds 6 of 19 repeats, with 2 false; the same rubric and ≥ 45 finds 17 of 19,
# with no false suggestion among the 18 other pairs.
SAME_RUBRIC_SCORE = 45
# … and two tickets routed to different rubrics are one problem only when worded nearly alike (shared words such as a
# management company's name made rubbish and lighting complaints at one house score 85).
OTHER_RUBRIC_SCORE = 90
MAX_CANDIDATES = 500  # tickets at one place read at most
EARTH_RADIUS_M = 6_371_000.0
MAX_TEXT = 20_000  # characters of a text read for its wording
MAX_STEMS = 200  # stems compared: a real appeal has far fewer; WRatio's cost grows with the product of lengths
_ADDRESS_WORDS = frozenset("ул улица улице улицы пер переулок переулке дом дома доме д кв квартира подъезд корпус корп "
                           "шоссе город г белогорск двор дворе дворы возле около напротив уже день дня дней неделю "
                           "утра никто всё все".split())
_GENERIC_STEMS = frozenset(("подъез",))
_TAG = re.compile(r"<[^>]{0,500}>")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _point(lat, lon) -> bool:
    """Coordinates that can be measured: both set, finite and on the globe (the channels check them; a row written
    otherwise must not stop intake with a math domain error)."""
    return lat is not None and lon is not None and math.isfinite(lat) and math.isfinite(lon) \
        and -90 <= lat <= 90 and -180 <= lon <= 180


def wording(text: str | None, street_words: frozenset[str] = frozenset()) -> str:
    """The stems a text is compared by: no stop words, numbers, address words or the street's own words; the first
    MAX_STEMS of them (WRatio of two 50 KB texts takes minutes: a long letter must not stall intake)."""
    out = []
    text = html.unescape(_TAG.sub(" ", (text or "")[:MAX_TEXT]))  # a portal editor's HTML
    for w in text_words(text):
        if len(out) >= MAX_STEMS:
            break
        if w in STOP or w in _ADDRESS_WORDS or any(ch.isdigit() for ch in w) or len(w) < 3:
            continue
        s = addresses.stem(w)[:6]
        if s not in street_words and s not in _GENERIC_STEMS:
            out.append(s)
    return " ".join(out)


def similarity(a: str | None, b: str | None, street_words: frozenset[str] = frozenset()) -> float:
    """0-100: how alike two residents' texts are (WRatio of their stems)."""
    wa, wb = wording(a, street_words), wording(b, street_words)
    if not wa or not wb:
        return 0.0
    return float(fuzz.WRatio(wa, wb))


def _street_words(street_id: int | None) -> frozenset[str]:
    if street_id is None:
        return frozenset()
    name = batchmemo.memo(("repeats.street_core", street_id), lambda: db.session.scalar(
        select(Street.core).where(Street.id == street_id))) or ""
    return frozenset(addresses.stem(w)[:6] for w in text_words(name))


def candidates(ticket: Ticket, now: datetime | None = None) -> list[tuple[Ticket, float, str]]:
    """Open tickets of the last WINDOW_DAYS days, older than `ticket`, at its place and saying the same:
    (ticket, score, reason «address» | «distance»), best first."""
    now = now or utcnow()
    places = []
    if ticket.street_id is not None and ticket.house:
        places.append(and_(Ticket.street_id == ticket.street_id, Ticket.house == ticket.house))
    near = _point(ticket.latitude, ticket.longitude)
    if near:
        dlat = DISTANCE_M / 111_320.0
        dlon = DISTANCE_M / (111_320.0 * max(0.05, math.cos(math.radians(ticket.latitude))))
        places.append(and_(Ticket.latitude.between(ticket.latitude - dlat, ticket.latitude + dlat),
                           Ticket.longitude.between(ticket.longitude - dlon, ticket.longitude + dlon)))
    if not places:
        return []
    stmt = (select(Ticket).where(or_(*places), Ticket.id != ticket.id, Ticket.status.in_(OPEN_STATUSES),
                                 Ticket.created_at >= now - timedelta(days=WINDOW_DAYS),
                                 Ticket.created_at <= (ticket.created_at or now))
            .order_by(Ticket.created_at.desc()).limit(MAX_CANDIDATES))
    if ticket.id is not None:
        stmt = stmt.where(Ticket.id < ticket.id)
    street_words = _street_words(ticket.street_id)
    out = []
    for other in db.session.scalars(stmt):
        same_house = ticket.street_id is not None and ticket.house and (other.street_id, other.house) == (
            ticket.street_id, ticket.house)
        if same_house:
            reason = "address"
        elif near and _point(other.latitude, other.longitude) and distance_m(
                ticket.latitude, ticket.longitude, other.latitude, other.longitude) <= DISTANCE_M:
            reason = "distance"
        else:
            continue
        score = similarity(ticket.summary, other.summary, street_words)
        if ticket.category_id is None or other.category_id is None:
            needed = TEXT_SCORE
        else:
            needed = SAME_RUBRIC_SCORE if ticket.category_id == other.category_id else OTHER_RUBRIC_SCORE
        if score >= needed:
            out.append((other, score, reason))
    out.sort(key=lambda x: (-x[1], x[0].id))
    return out


def suggest(ticket: Ticket, now: datetime | None = None, fresh: bool = False) -> int:
    """Find and keep the likely repeats of a new ticket. Returns how many. Caller commits.
    fresh: the ticket was made in this transaction (intake), so it has no suggestions yet to skip."""
    found = candidates(ticket, now)
    known = set() if fresh or not found else set(db.session.scalars(
        select(RepeatSuggestion.other_id).where(RepeatSuggestion.ticket_id == ticket.id)))
    for other, score, reason in found:
        if other.id not in known:
            db.session.add(RepeatSuggestion(ticket_id=ticket.id, other_id=other.id, score=round(score, 1),
                                            reason=reason))
    db.session.flush()
    return len(found)


# built once: an alias of the tickets table costs ~1 ms to make (every column proxied), the queue and the ticket
# page ask on every request
_MINE, _THEIRS = aliased(Ticket, name="repeat_mine"), aliased(Ticket, name="repeat_theirs")


def _live(stmt):
    """Suggestions not dismissed whose two tickets are both still open."""
    mine, theirs = _MINE, _THEIRS
    return (stmt.join(mine, mine.id == RepeatSuggestion.ticket_id).join(theirs, theirs.id == RepeatSuggestion.other_id)
            .where(RepeatSuggestion.dismissed.is_(False), mine.status.in_(OPEN_STATUSES),
                   theirs.status.in_(OPEN_STATUSES)))


def of_ticket(user: User, ticket: Ticket) -> list[tuple[RepeatSuggestion, Ticket]]:
    """The live suggestions that involve `ticket`, each with the other ticket (one the user may see)."""
    rows = db.session.scalars(_live(select(RepeatSuggestion)).where(
        or_(RepeatSuggestion.ticket_id == ticket.id, RepeatSuggestion.other_id == ticket.id))
        .order_by(RepeatSuggestion.score.desc(), RepeatSuggestion.id)).all()
    out = []
    for s in rows:
        other = s.other if s.ticket_id == ticket.id else s.ticket
        if access.can_view(user, other):
            out.append((s, other))
    return out


def _in_ids(column, ids):
    """`column = ANY(:ids)` with the ids as one array parameter on PostgreSQL (one statement text whatever the count:
    less to compile, send and parse than a parameter per id); IN elsewhere."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, sorted(ids), type_=ARRAY(Integer)))
    return column.in_(ids)


def flagged(ticket_ids: list[int]) -> dict[int, int]:
    """For the queue's rows: ticket id → how many live likely repeats it has (one query for the page)."""
    if not ticket_ids:
        return {}
    # The suggestions first, without _live's two joins to `tickets` (planning them cost ≈ 2 ms of the database's
    # CPU on every queue page, though a page usually has no suggestion at all); then, only when there are some,
    # which of their tickets are open — the same rule as _live: not dismissed, both tickets open.
    rows = db.session.execute(select(RepeatSuggestion.ticket_id, RepeatSuggestion.other_id).where(
        RepeatSuggestion.dismissed.is_(False),
        or_(_in_ids(RepeatSuggestion.ticket_id, ticket_ids), _in_ids(RepeatSuggestion.other_id, ticket_ids)))).all()
    if not rows:
        return {}
    involved = {tid for row in rows for tid in row}
    open_ids = set(db.session.scalars(select(Ticket.id).where(_in_ids(Ticket.id, involved),
                                                              Ticket.status.in_(OPEN_STATUSES))))
    rows = [(a, b) for a, b in rows if a in open_ids and b in open_ids]
    wanted = set(ticket_ids)
    counts: dict[int, int] = defaultdict(int)
    for a, b in rows:
        for tid in (a, b):
            if tid in wanted:
                counts[tid] += 1
    return dict(counts)


def _get(suggestion_id: int) -> RepeatSuggestion:
    s = db.session.get(RepeatSuggestion, suggestion_id) if 0 < suggestion_id < 2**31 else None
    if s is None:
        raise NotFound("Предложение не найдено")
    return s


def dismiss(actor: User, suggestion_id: int) -> RepeatSuggestion:
    """«Не повтор»: the suggestion is no longer shown. Caller commits."""
    access.ensure_can_manage(actor)
    s = _get(suggestion_id)
    s.dismissed = True
    s.dismissed_by_id = actor.id
    return s


def merge(actor: User, suggestion_id: int, now: datetime | None = None) -> Ticket:
    """Merge a suggestion's newer ticket into the older one (services/tickets.merge). Returns the main ticket.
    Caller commits."""
    access.ensure_can_manage(actor)
    s = _get(suggestion_id)
    if s.dismissed or not (s.ticket.is_open and s.other.is_open):
        raise ValidationFailed("Это предложение уже не действует")
    newer, older = sorted((s.ticket, s.other), key=lambda t: (t.created_at, t.id), reverse=True)
    tickets.merge(newer, older, actor, now=now)
    return older


def groups(user: User, limit: int = 200) -> list[list[Ticket]]:
    """Likely repeats grouped (a suggestion links two tickets; linked tickets are one group), each group oldest
    first, the biggest groups first. Only tickets the user may see."""
    pairs = db.session.execute(_live(select(RepeatSuggestion.ticket_id, RepeatSuggestion.other_id))
                               .order_by(RepeatSuggestion.id.desc()).limit(limit * 5)).all()
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = defaultdict(list)
    for x in list(parent):
        members[find(x)].append(x)
    ids = [i for group in members.values() for i in group]
    visible = {t.id: t for t in db.session.scalars(access.visible_tickets(user, select(Ticket))
                                                   .where(Ticket.id.in_(ids or [-1])))}
    out = []
    for group in members.values():
        shown = sorted((visible[i] for i in group if i in visible), key=lambda t: (t.created_at, t.id))
        if len(shown) >= 2:
            out.append(shown)
    out.sort(key=lambda g: (-len(g), g[0].created_at))
    return out[:limit]


def merge_group(actor: User, ticket_ids: list[int], now: datetime | None = None) -> tuple[Ticket, list[Ticket]]:
    """Merge the chosen tickets into the oldest of them. Returns (main, merged). Caller commits."""
    access.ensure_can_manage(actor)
    ids = sorted({i for i in ticket_ids if 0 < i < 2**31})
    if len(ids) < 2:
        raise ValidationFailed("Отметьте хотя бы два обращения", field="ids")
    chosen = db.session.scalars(access.visible_tickets(actor, select(Ticket)).where(Ticket.id.in_(ids))).all()
    if len(chosen) != len(ids):
        raise NotFound("Часть выбранных обращений не найдена")
    chosen.sort(key=lambda t: (t.created_at, t.id))
    main, rest = chosen[0], chosen[1:]
    if not main.is_open:
        raise ValidationFailed("Обращение %(number)s уже не открыто", number=main.number)
    merged = []
    for t in rest:
        if t.is_open:
            tickets.merge(t, main, actor, now=now)
            merged.append(t)
    return main, merged


def on_intake(ticket: Ticket, text: str | None, now: datetime | None = None) -> None:
    """At intake: the address in the resident's words, then the ticket's likely repeats."""
    addresses.apply_to(ticket, text)
    db.session.flush()  # a new ticket's id, its address in the same INSERT
    if ticket.street_id is not None or ticket.latitude is not None:
        suggest(ticket, now, fresh=True)
