"""Recurring hot spots, found automatically: the same rubric at the same street, or the same wording, several
times within a few days. `detect()` runs as a periodic job and keeps the HotSpot rows (and their tickets) up to
date; the board lists the active ones.

* address: tickets of the window grouped by (rubric, street); the street is taken from the ticket's address or,
  failing that, from its text («ул. Ленина, 12», «на улице Ленина», «пер. Садовый»), normalised to «ул. Ленина»;
* wording: within a rubric (or among tickets without one), texts compared by rapidfuzz token-sort ratio on
  normalised words; tickets linked by a score ≥ WORDING_SCORE form a cluster (union–find).

A group of at least MIN_TICKETS tickets is a hot spot. A hot spot keeps its row while it grows: an address spot
by its key, a wording spot by sharing a ticket with the cluster found again.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, joinedload

from app.extensions import db
from app.formatting import local_dt
from app.models import OPEN_STATUSES, Category, HotSpot, HotSpotTicket, Institution, Street, Ticket, utcnow
from app.models.base import fit_column
from app.services import access, exports
from app.services.text import normalise as normalise_text
from app.services.text import words as text_words

WINDOW_DAYS = 7
MIN_TICKETS = 3
WORDING_SCORE = 85
MAX_TICKETS = 20_000  # the window's tickets read at most (newest first)

_STREET = re.compile(
    r"\b(ул(?:ица|ице|ицу|ицы)?\.?|пер(?:еулок|еулке|\.)?|пр-т|просп(?:ект|екте|\.)?|пл(?:ощадь|ощади|\.)?|"
    r"мкр(?:\.|-н)?|микрорайон(?:е)?|б-р|бульвар(?:е)?|ш\.|шоссе|проезд(?:е)?)\s+"
    r"((?:\d+\s+(?:лет|летия)\s+)?[А-ЯЁ0-9][А-Яа-яЁё0-9\-]+(?:\s+[А-ЯЁ][а-яё\-]+)?)",
    re.UNICODE)
_KIND = {"ул": "ул.", "пер": "пер.", "пр-т": "пр-т", "просп": "пр-т", "пл": "пл.", "мкр": "мкр", "микрорайон": "мкр",
         "б-р": "б-р", "бульвар": "б-р", "ш.": "ш.", "шоссе": "ш.", "проезд": "проезд"}
STOP = frozenset("""и в во на не что как у по с со к ко о об от до за из для это уже а но же ли бы мы вы они он она
оно я ты мне нас вас их его ее её там тут очень просто когда где всё все весь вся было был была будет есть нет
здравствуйте добрый день вечер утро пожалуйста спасибо заранее подскажите скажите почему""".split())


def street_of(text: str | None) -> str | None:
    """«ул. Ленина» from «ул. Ленина, 12», «улица Ленина д. 5», «на улице Ленина»; None when there is none."""
    if not text:
        return None
    m = _STREET.search(normalise_text(text))  # no zero-width characters or compatibility forms in the way
    if not m:
        return None
    raw_kind = m.group(1).lower().rstrip(".")
    kind = next((v for k, v in _KIND.items() if raw_kind.startswith(k.rstrip("."))), raw_kind)
    name = m.group(2).strip(" -")
    return f"{kind} {name[:1].upper()}{name[1:]}"


# «[документ: акт.pdf]», «[видео 0:12]», «[геометка: …]»: what a message without words carried, named by
# channels.content.summary — not the resident's wording, so never compared as such.
_CONTENT_LABEL = re.compile(r"\[[^\[\]]*\]")


def normalise(text: str) -> str:
    """The wording of a summary for comparison: its words (any script, app/services/text.py) without stop words
    and without the bracketed names of attachments."""
    return " ".join(w for w in text_words(_CONTENT_LABEL.sub(" ", text or "")) if w not in STOP and len(w) > 2)


class _Union:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _wording_clusters(rows: list) -> list[list]:
    from rapidfuzz import fuzz, process

    by_category: dict = defaultdict(list)
    for r in rows:
        text = normalise(r.summary)
        if len(text.split()) >= 3:
            by_category[r.category_id].append((r, text))
    clusters = []
    for items in by_category.values():
        if len(items) < MIN_TICKETS:
            continue
        texts = [t for _, t in items]
        scores = process.cdist(texts, texts, scorer=fuzz.token_sort_ratio, score_cutoff=WORDING_SCORE, workers=-1)
        union = _Union(len(items))
        for i, j in zip(*scores.nonzero(), strict=True):
            if i < j:
                union.join(int(i), int(j))
        groups: dict = defaultdict(list)
        for i, (r, _) in enumerate(items):
            groups[union.find(i)].append(r)
        clusters.extend(g for g in groups.values() if len(g) >= MIN_TICKETS)
    return clusters


def detect(now: datetime | None = None, window_days: int = WINDOW_DAYS) -> int:
    """Find the hot spots of the last `window_days` days and save them. Returns how many are active. Caller commits."""
    now = now or utcnow()
    since = now - timedelta(days=window_days)
    rows = db.session.execute(
        select(Ticket.id, Ticket.category_id, Ticket.institution_id, Ticket.address, Ticket.summary, Ticket.status,
               Ticket.created_at, Ticket.street_id)
        .where(Ticket.created_at >= since, Ticket.created_at <= now, Ticket.status.notin_(("merged", "rejected")))
        .order_by(Ticket.created_at.desc()).limit(MAX_TICKETS)).all()
    found: list[tuple[str, str, list, str]] = []  # (kind, key, rows, label)
    by_street: dict = defaultdict(list)
    addressed = set()
    # The street matched against the city's list at intake (app/services/addresses.py) when there is one.
    names = dict(db.session.execute(select(Street.id, Street.name).where(
        Street.id.in_({r.street_id for r in rows if r.street_id is not None} or {-1}))).all())
    for r in rows:
        street = names.get(r.street_id) or street_of(r.address) or street_of(r.summary)
        if street and r.category_id is not None:
            by_street[(r.category_id, street)].append(r)
    for (category_id, street), group in by_street.items():
        if len(group) >= MIN_TICKETS:
            found.append(("address", f"address:{category_id}:{street.lower()}", group, street))
            addressed.update(r.id for r in group)
    for group in _wording_clusters(rows):
        if {r.id for r in group} <= addressed:
            continue  # the same complaint at the same street: already an address hot spot
        sample = min(group, key=lambda r: len(r.summary or ""))
        found.append(("wording", "", group, (sample.summary or "").strip()[:300]))
    for kind, key, group, label in found:
        _save(kind, key, group, label, now)
    return len(found)


def _save(kind: str, key: str, group: list, label: str, now: datetime) -> HotSpot:
    ids = [r.id for r in group]
    spot = None
    if kind == "address":
        key = fit_column(HotSpot.__table__.c.key, key)  # a street of any length: the same key as stored
        spot = db.session.scalar(select(HotSpot).where(HotSpot.key == key))
    else:
        spot = db.session.scalar(select(HotSpot).join(HotSpotTicket, HotSpotTicket.hot_spot_id == HotSpot.id)
                                 .where(HotSpot.kind == "wording", HotSpotTicket.ticket_id.in_(ids))
                                 .order_by(HotSpot.id).limit(1))
        key = spot.key if spot is not None else f"wording:{min(ids)}"
    if spot is None:
        spot = HotSpot(key=key, kind=kind, label=label, first_seen_at=min(r.created_at for r in group),
                       last_seen_at=max(r.created_at for r in group), detected_at=now, ticket_count=0)
        db.session.add(spot)
        db.session.flush()
    known = set(db.session.scalars(select(HotSpotTicket.ticket_id).where(HotSpotTicket.hot_spot_id == spot.id)))
    for tid in ids:
        if tid not in known:
            db.session.add(HotSpotTicket(hot_spot_id=spot.id, ticket_id=tid))
    db.session.flush()
    spot.category_id = Counter(r.category_id for r in group).most_common(1)[0][0]
    institutions = Counter(r.institution_id for r in group if r.institution_id is not None)
    spot.institution_id = institutions.most_common(1)[0][0] if institutions else spot.institution_id
    spot.first_seen_at = min(spot.first_seen_at, min(r.created_at for r in group))
    spot.last_seen_at = max(spot.last_seen_at, max(r.created_at for r in group))
    _recount(spot)
    return spot


def _recount(spot: HotSpot) -> None:
    statuses = db.session.scalars(select(Ticket.status).join(HotSpotTicket, HotSpotTicket.ticket_id == Ticket.id)
                                  .where(HotSpotTicket.hot_spot_id == spot.id)).all()
    spot.ticket_count = len(statuses)
    spot.open_count = sum(1 for s in statuses if s in OPEN_STATUSES)


def _active_stmt(now: datetime, window_days: int, institution_id: int | None, direction_id: int | None,
                 since=None):
    since = now - timedelta(days=window_days) if since is None else since
    stmt = select(HotSpot).where(HotSpot.last_seen_at >= since)
    if institution_id is not None:
        stmt = stmt.where(HotSpot.institution_id == institution_id)
    if direction_id is not None:
        stmt = stmt.where(HotSpot.institution_id.in_(
            select(Institution.id).where(Institution.direction_id == direction_id)))
    return stmt


def active(now: datetime | None = None, window_days: int = WINDOW_DAYS, limit: int = 50, *,
           institution_id: int | None = None, direction_id: int | None = None) -> list[HotSpot]:
    """Hot spots with a ticket in the last `window_days` days (of an institution / direction), the biggest open
    ones first."""
    now = now or utcnow()
    stmt = (active_query(_active_stmt(now, window_days, institution_id, direction_id), limit)
            .options(joinedload(HotSpot.category), joinedload(HotSpot.institution)))
    return list(db.session.scalars(stmt))


def active_query(stmt, limit):
    """The order of active(): the biggest open ones first."""
    return stmt.order_by(HotSpot.open_count.desc(), HotSpot.ticket_count.desc(), HotSpot.id).limit(limit)


def active_rows_query(since, limit, *, institution_id: int | None = None, direction_id: int | None = None):
    """active() as rows of the columns the worklist shows (id, kind, label, ticket_count, open_count, last_seen_at,
    category_name, institution_name), `since` and `limit` possibly bound parameters."""
    stmt = active_query(_active_stmt(None, WINDOW_DAYS, institution_id, direction_id, since), limit)
    inst = aliased(Institution)  # not the direction's subquery's institutions (no correlation)
    return (stmt.with_only_columns(HotSpot.id, HotSpot.kind, HotSpot.label, HotSpot.ticket_count, HotSpot.open_count,
                                   HotSpot.last_seen_at, Category.name.label("category_name"),
                                   inst.short_name.label("institution_name"))
            .outerjoin(Category, Category.id == HotSpot.category_id)
            .outerjoin(inst, inst.id == HotSpot.institution_id))


def count_active_query(now: datetime | None = None, window_days: int = WINDOW_DAYS, *,
                       institution_id: int | None = None, direction_id: int | None = None, since=None):
    """count_active() as a scalar subquery (to ask it in one statement with other counts); `since`: the window's
    start instead of `now` − `window_days` (a bound parameter, for a statement built once)."""
    stmt = _active_stmt(now or utcnow(), window_days, institution_id, direction_id, since)
    return select(func.count()).select_from(stmt.subquery()).scalar_subquery()


def count_active(now: datetime | None = None, window_days: int = WINDOW_DAYS, *, institution_id: int | None = None,
                 direction_id: int | None = None) -> int:
    return db.session.scalar(select(count_active_query(now, window_days, institution_id=institution_id,
                                                       direction_id=direction_id))) or 0


def workbook(user, spot: HotSpot) -> tuple[bytes, str]:
    """A hot spot's tickets the user may see as XLSX (residents' contacts in the text masked unless the role may
    see them). Returns (bytes, file name)."""
    masked = not access.can_see_personal_data(user)
    rows = [(t.number, t.created_at, str(t.status_label), t.institution.short_name if t.institution else "",
             t.address or "", exports.free_text(t.summary, masked=masked), t.resolution_due_at, t.resolved_at)
            for t in spot.tickets if access.can_view(user, t)]
    sheet = exports.Sheet("Обращения", ("Номер", "Поступило", "Статус", "Учреждение", "Адрес", "Суть",
                                        "Срок решения", "Решено"), rows,
                          ("text", "datetime", "text", "text", "text", "text", "datetime", "datetime"),
                          (17, 17, 20, 30, 30, 70, 17, 17))
    about = exports.About(what=f"Повторяющаяся проблема: {spot.label}", by=user.display_name,
                          filters=[("Рубрика", spot.category.name if spot.category else "—"),
                                   ("Период", f"{local_dt(spot.first_seen_at)} — {local_dt(spot.last_seen_at)}")],
                          masked=masked)
    return exports.workbook([sheet], about), f"Повторяющаяся проблема {spot.id}.xlsx"
