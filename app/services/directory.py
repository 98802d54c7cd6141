"""The public directory of participants: /participants, a participant's page and the open JSON API read from here.

Built for 550 accounts × 5 years of daily snapshots (≈ 1 M rows) and 1 M posts (bench/participants_bench.py):
- current figures are the denormalised Account.followers / posts (the collector writes them with the snapshot);
- growth over 30 days: one probe of the unique index (account_id, taken_on) per account — the snapshot on or
  before that day, as a correlated LIMIT 1 subquery (PostgreSQL and SQLite alike);
- posts this month: a count on ix_posts_account_published for the active accounts;
- the growth chart: one row per account and week (DISTINCT ON on PostgreSQL, SQLite's bare column of max());
- latest posts: the newest few of each account through ix_posts_account_published, merged here.
No state is kept in the process: every web process answers the same.

Nothing personal leaves this module: the SM-specialist's name and contacts (Institution.smm_*), tokens and
collection errors are never selected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Date, func, literal, select
from sqlalchemy.dialects.postgresql import distinct_on

from app.channels.clean import safe_link
from app.extensions import db
from app.models import ACCOUNT_NETWORKS, NETWORK_LABELS, Account, AccountSnapshot, Direction, Institution, Post, utcnow

GROWTH_DAYS = 30
POSTS_WEEKS = 12  # «посты в неделю»: the last 12 weeks, Monday to Sunday
LATEST_POSTS = 10
MAX_QUERY = 100  # a longer search is cut to this many characters
MAX_SLUG = 80  # Institution.slug
SNAPSHOTS_MAX_DAYS = 1830  # the open API gives at most ~5 years of daily figures per request
SNAPSHOTS_DEFAULT_DAYS = 365
DAILY_CHART_DAYS = 92  # a shorter history is drawn day by day; a longer one week by week
EPOCH = date(2000, 1, 3)  # a Monday: week buckets start on Mondays
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f\\\"'<>`]")


# --- small helpers ---------------------------------------------------------------------------------------
def city_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["CITY_TZ"])


def city_today(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(city_tz()).date()


def city_midnight(day: date) -> datetime:
    """The UTC moment the city's day `day` begins."""
    return datetime.combine(day, time(0), tzinfo=city_tz()).astimezone(timezone.utc)


def network_label(network: str, label: str | None = None) -> str:
    if network == "other" and label:
        return label
    return str(NETWORK_LABELS.get(network, network))


def public_link(url: str | None, network: str) -> str | None:
    """A link a public page may show: http(s) to the network's own hosts; for «other» any plain http(s) link
    (no userinfo, no spaces, quotes or control characters). None otherwise: the page then shows no link."""
    if not url or not isinstance(url, str) or len(url) > 2000:
        return None
    if network in ("telegram", "vk", "ok", "max"):
        return safe_link(url, network, log_refusal=False)
    if _URL_UNSAFE.search(url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError on a junk port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return url


def clean_query(value: str | None) -> str:
    """A search string as typed, without control or direction-override characters, at most MAX_QUERY long."""
    return " ".join(_CONTROL.sub(" ", value or "").split())[:MAX_QUERY]


# --- rows -------------------------------------------------------------------------------------------------
@dataclass
class AccountRow:
    id: int
    network: str
    label: str
    url: str | None
    title: str | None
    followers: int
    posts: int
    posts_source: str
    connected_at: datetime | None
    collected_at: datetime | None
    has_avatar: bool
    stats: bool  # «other» networks are plain links: no figures

    @property
    def network_name(self) -> str:
        return network_label(self.network, self.label)


@dataclass
class ParticipantRow:
    id: int
    slug: str
    name: str
    short_name: str
    site: str | None
    direction_code: str
    direction_name: str
    direction_order: int
    has_logo: bool
    public_feedback: bool
    accounts: list[AccountRow] = field(default_factory=list)

    @property
    def followers(self) -> int:
        return sum(a.followers for a in self.accounts if a.stats)


_ACCOUNT_COLUMNS = (Account.id, Account.institution_id, Account.network, Account.label, Account.url, Account.title,
                    Account.followers, Account.posts, Account.posts_source, Account.connected_at,
                    Account.collected_at, Account.avatar_path)
_INSTITUTION_COLUMNS = (Institution.id, Institution.slug, Institution.name, Institution.short_name, Institution.site,
                        Institution.logo_path, Institution.public_feedback, Direction.code, Direction.name,
                        Direction.sort_order)


def _account(row) -> AccountRow:
    return AccountRow(id=row.id, network=row.network, label=row.label or "", url=public_link(row.url, row.network),
                      title=row.title, followers=row.followers or 0, posts=row.posts or 0,
                      posts_source=row.posts_source or "api", connected_at=row.connected_at,
                      collected_at=row.collected_at, has_avatar=bool(row.avatar_path),
                      stats=row.network != "other")


def _participant(row) -> ParticipantRow:
    return ParticipantRow(id=row[0], slug=row[1], name=row[2], short_name=row[3] or row[2],
                          site=public_link(row[4], "other"), has_logo=bool(row[5]), public_feedback=bool(row[6]),
                          direction_code=row[7], direction_name=row[8], direction_order=row[9] or 0)


def participants(slug: str | None = None) -> list[ParticipantRow]:
    """Active participants (one by `slug`, or all) with their active accounts, most followed first."""
    stmt = select(*_INSTITUTION_COLUMNS).join(Direction, Institution.direction_id == Direction.id) \
        .where(Institution.is_active.is_(True))
    if slug is not None:
        stmt = stmt.where(Institution.slug == slug)
    rows = [_participant(r) for r in db.session.execute(stmt)]
    if not rows:
        return []
    by_id = {p.id: p for p in rows}
    acc = select(*_ACCOUNT_COLUMNS).where(Account.is_active.is_(True))
    acc = acc.where(Account.institution_id == rows[0].id) if slug is not None else \
        acc.join(Institution, Account.institution_id == Institution.id).where(Institution.is_active.is_(True))
    for r in db.session.execute(acc.order_by(Account.followers.desc(), Account.id)):
        by_id[r.institution_id].accounts.append(_account(r))
    rows.sort(key=lambda p: (p.direction_order, p.direction_name, -p.followers, p.short_name.casefold()))
    return rows


def direction_codes() -> set[str]:
    return set(db.session.scalars(select(Direction.code)))


def participant(slug: str) -> ParticipantRow | None:
    if not isinstance(slug, str) or not slug or len(slug) > MAX_SLUG:
        return None
    found = participants(slug)
    return found[0] if found else None


def public_rows(p: ParticipantRow) -> tuple[Institution, list[Account]]:
    """The participant's row and its active accounts (shown ones, in the same order) for included templates."""
    inst = db.session.get(Institution, p.id)
    by_id = {a.id: a for a in db.session.scalars(select(Account).where(Account.institution_id == p.id))}
    return inst, [by_id[a.id] for a in p.accounts if a.id in by_id]


# --- figures ----------------------------------------------------------------------------------------------
def posts_since(account_ids: list[int], since: datetime) -> int:
    if not account_ids:
        return 0
    return db.session.scalar(select(func.count()).select_from(Post)
                             .where(Post.account_id.in_(account_ids), Post.published_at >= since)) or 0


def followers_on(account_ids: list[int], day: date) -> dict[int, int]:
    """Each account's followers in its last snapshot on or before `day` (accounts without one are left out)."""
    if not account_ids:
        return {}
    then = (select(AccountSnapshot.followers)
            .where(AccountSnapshot.account_id == Account.id, AccountSnapshot.taken_on <= day)
            .order_by(AccountSnapshot.taken_on.desc()).limit(1).correlate(Account).scalar_subquery())
    rows = db.session.execute(select(Account.id, then).where(Account.id.in_(account_ids)))
    return {account_id: followers for account_id, followers in rows if followers is not None}


def growth(accounts: list[AccountRow], today: date, days: int = GROWTH_DAYS) -> int | None:
    """Subscribers gained in `days` days: now minus the snapshot on or before that day, for the accounts that had
    one then (an account connected since adds nothing). None when no account has a history that long."""
    counted = [a for a in accounts if a.stats]
    then = followers_on([a.id for a in counted], today - timedelta(days=days))
    if not then:
        return None
    return sum(a.followers - then[a.id] for a in counted if a.id in then)


@dataclass
class Filters:
    direction: str = ""
    network: str = ""
    q: str = ""
    notes: list[str] = field(default_factory=list)  # what was ignored, for the page to say

    @property
    def active(self) -> bool:
        return bool(self.direction or self.network or self.q)


def parse_filters(args, direction_codes: set[str]) -> Filters:
    """The directory's GET filters; an unknown value is ignored and said so, never an error."""
    f = Filters()
    direction = str(args.get("direction", "") or "").strip()
    if direction and direction in direction_codes:
        f.direction = direction
    elif direction:
        f.notes.append(_("Такого направления нет — показаны все направления."))
    network = str(args.get("network", "") or "").strip()
    if network and network in ACCOUNT_NETWORKS:
        f.network = network
    elif network:
        f.notes.append(_("Такой сети нет — показаны все сети."))
    raw = str(args.get("q", "") or "")
    f.q = clean_query(raw)
    if len(" ".join(raw.split())) > MAX_QUERY:
        f.notes.append(_("Поиск учитывает первые %(n)s символов.", n=MAX_QUERY))
    return f


def _matches(p: ParticipantRow, f: Filters) -> bool:
    if f.direction and p.direction_code != f.direction:
        return False
    if f.network and not any(a.network == f.network for a in p.accounts):
        return False
    if f.q:
        needle = f.q.casefold().replace("ё", "е")
        hay = f"{p.name} {p.short_name}".casefold().replace("ё", "е")
        if not all(word in hay for word in needle.split()):
            return False
    return True


@dataclass
class DirectoryPage:
    totals: dict
    directions: list[dict]  # every direction: code, name, participants
    groups: list[dict]  # the filtered participants by direction: code, name, participants
    filters: Filters
    shown: int


def directory(args, now: datetime | None = None) -> DirectoryPage:
    now = now or utcnow()
    today = city_today(now)
    everyone = participants()
    dirs = list(db.session.execute(select(Direction.code, Direction.name).order_by(Direction.sort_order,
                                                                                   Direction.name)))
    f = parse_filters(args, {code for code, _name in dirs})
    accounts = [a for p in everyone for a in p.accounts]
    counted = [a for a in accounts if a.stats]
    totals = {
        "participants": len(everyone),
        "accounts": len(accounts),
        "followers": sum(a.followers for a in counted),
        "posts_month": posts_since([a.id for a in counted], city_midnight(today.replace(day=1))),
        "growth": growth(accounts, today),
    }
    per_direction: dict[str, int] = {}
    for p in everyone:
        per_direction[p.direction_code] = per_direction.get(p.direction_code, 0) + 1
    directions = [{"code": c, "name": n, "participants": per_direction.get(c, 0)} for c, n in dirs]
    groups: dict[str, dict] = {}
    shown = 0
    for p in everyone:
        if not _matches(p, f):
            continue
        if f.network:
            p.accounts = [a for a in p.accounts if a.network == f.network]
        groups.setdefault(p.direction_code, {"code": p.direction_code, "name": p.direction_name,
                                             "participants": []})["participants"].append(p)
        shown += 1
    return DirectoryPage(totals=totals, directions=directions, groups=list(groups.values()), filters=f, shown=shown)


# --- a participant's page ---------------------------------------------------------------------------------
def posts_per_week(account_ids: list[int], today: date, weeks: int = POSTS_WEEKS) -> list[dict]:
    """Posts of these accounts in each of the last `weeks` weeks (Monday to Sunday; the current one too)."""
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=weeks - 1)
    counts = [0] * weeks
    if account_ids:
        stmt = select(Post.published_at).where(Post.account_id.in_(account_ids),
                                               Post.published_at >= city_midnight(first))
        tz = city_tz()
        for (moment,) in db.session.execute(stmt):
            index = (moment.astimezone(tz).date() - first).days // 7
            if 0 <= index < weeks:
                counts[index] += 1
    return [{"week": first + timedelta(weeks=i), "posts": n} for i, n in enumerate(counts)]


@dataclass
class PostRow:
    network: str
    network_name: str
    published_at: datetime
    text: str
    url: str | None
    views: int | None
    reactions: int | None
    comments: int | None


def latest_posts(accounts: list[AccountRow], limit: int = LATEST_POSTS) -> list[PostRow]:
    """The newest posts of these accounts: each account's newest `limit` (its index), merged."""
    found = []
    for a in accounts:
        if not a.stats:
            continue
        stmt = (select(Post.published_at, Post.text, Post.permalink, Post.views, Post.reactions, Post.comments)
                .where(Post.account_id == a.id).order_by(Post.published_at.desc()).limit(limit))
        for r in db.session.execute(stmt):
            text = " ".join(_CONTROL.sub(" ", r.text or "").split())
            found.append(PostRow(network=a.network, network_name=a.network_name, published_at=r.published_at,
                                 text=text[:280] + ("…" if len(text) > 280 else ""),
                                 url=public_link(r.permalink, a.network), views=r.views, reactions=r.reactions,
                                 comments=r.comments))
    found.sort(key=lambda p: p.published_at, reverse=True)
    return found[:limit]


def _bucket(days: int):
    """SQL for the number of the `days`-long period since EPOCH that a snapshot's day falls in."""
    if db.session.get_bind().dialect.name == "postgresql":
        return ((AccountSnapshot.taken_on - literal(EPOCH, Date)) / days).label("bucket")
    return func.cast((func.julianday(AccountSnapshot.taken_on) - func.julianday(EPOCH.isoformat())) / days,
                     db.Integer).label("bucket")


def growth_history(accounts: list[AccountRow]) -> dict:
    """Subscribers over time: {"dates": [...], "series": {network: [...], "all": [...]}} with one point a day for a
    short history, else one a week (each account's last snapshot in the week; a week without one keeps the
    account's previous figure, so a missed collection is no dip)."""
    counted = [a for a in accounts if a.stats]
    ids = [a.id for a in counted]
    empty = {"dates": [], "series": {}, "step": 1}
    if not ids:
        return empty
    first = db.session.scalar(select(func.min(AccountSnapshot.taken_on)).where(AccountSnapshot.account_id.in_(ids)))
    if first is None:
        return empty
    if isinstance(first, str):  # SQLite without type information on an aggregate
        first = date.fromisoformat(first)
    last = city_today()
    step = 1 if (last - first).days <= DAILY_CHART_DAYS else 7
    bucket = _bucket(step)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        stmt = (select(AccountSnapshot.account_id, bucket, AccountSnapshot.followers)
                .where(AccountSnapshot.account_id.in_(ids))
                .ext(distinct_on(AccountSnapshot.account_id, bucket))
                .order_by(AccountSnapshot.account_id, bucket, AccountSnapshot.taken_on.desc()))
    else:  # SQLite: a bare column next to max() comes from the row holding the max
        stmt = (select(AccountSnapshot.account_id, bucket, AccountSnapshot.followers,
                       func.max(AccountSnapshot.taken_on))
                .where(AccountSnapshot.account_id.in_(ids))
                .group_by(AccountSnapshot.account_id, bucket))
    values: dict[int, dict[int, int]] = {}
    buckets: set[int] = set()
    for row in db.session.execute(stmt):
        values.setdefault(row[0], {})[int(row[1])] = row[2]
        buckets.add(int(row[1]))
    if not buckets:
        return empty
    order = list(range(min(buckets), max(buckets) + 1))
    networks = {a.id: a.network for a in counted}
    series: dict[str, list[int | None]] = {}
    for account_id, points in values.items():
        net = series.setdefault(networks[account_id], [None] * len(order))
        latest = None
        for i, b in enumerate(order):
            latest = points.get(b, latest)
            if latest is not None:
                net[i] = (net[i] or 0) + latest
    total = [sum(s[i] or 0 for s in series.values()) if any(s[i] is not None for s in series.values()) else None
             for i in range(len(order))]
    dates = [min(EPOCH + timedelta(days=(b + 1) * step - 1), last) for b in order]
    ordered = {n: series[n] for n in ACCOUNT_NETWORKS if n in series}
    return {"dates": dates, "series": {"all": total, **ordered} if len(ordered) > 1 else ordered, "step": step}


def chart(history: dict, width: int = 720, height: int = 240, left: int = 56, right: int = 12, top: int = 12,
          bottom: int = 30) -> dict | None:
    """SVG geometry of the growth chart: polylines, y ticks and a few date labels (the template draws them)."""
    dates, series = history["dates"], history["series"]
    if not dates or not series:
        return None
    peak = max([v for s in series.values() for v in s if v is not None] + [1])
    n = len(dates)
    span_x, span_y = width - left - right, height - top - bottom

    def x(i):
        return round(left + (span_x * i / (n - 1) if n > 1 else span_x / 2), 1)

    def y(v):
        return round(top + span_y * (1 - v / peak), 1)

    lines = []
    for key, values in series.items():
        pts = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values) if v is not None)
        last = next((v for v in reversed(values) if v is not None), None)
        first = next((v for v in values if v is not None), None)
        lines.append({"key": key, "name": _("все сети") if key == "all" else network_label(key), "points": pts,
                      "last": last, "first": first})
    ticks = [{"y": y(v), "value": v} for v in sorted({0, round(peak / 2), peak})]
    count = min(6, n)
    idx = sorted({round(i * (n - 1) / (count - 1)) for i in range(count)}) if count > 1 else [0]
    labels = [{"x": x(i), "text": dates[i].strftime("%d.%m.%y"),
               "anchor": "start" if i == 0 else ("end" if i == n - 1 else "middle")} for i in idx]
    return {"width": width, "height": height, "left": left, "right": width - right, "bottom": height - bottom,
            "lines": lines, "ticks": ticks, "labels": labels, "first": dates[0], "last": dates[-1],
            "step": history["step"]}


def week_bars(weeks: list[dict], width: int = 720, height: int = 160, left: int = 36, bottom: int = 26,
              top: int = 14) -> dict:
    peak = max([w["posts"] for w in weeks] + [1])
    step = (width - left - 8) / max(len(weeks), 1)
    bars = []
    for i, w in enumerate(weeks):
        h = (height - top - bottom) * w["posts"] / peak
        bars.append({"x": round(left + i * step + step * 0.15, 1), "w": round(step * 0.7, 1),
                     "y": round(height - bottom - h, 1), "h": round(h, 1), "posts": w["posts"],
                     "cx": round(left + i * step + step / 2, 1), "label": w["week"].strftime("%d.%m")})
    mean = sum(w["posts"] for w in weeks) / len(weeks) if weeks else 0
    return {"width": width, "height": height, "bars": bars, "text_y": height - 8, "mean": round(mean, 1),
            "peak": peak, "top": top, "base": height - bottom, "left": left}


@dataclass
class ParticipantPage:
    participant: ParticipantRow
    totals: dict
    weeks: dict
    chart: dict | None
    posts: list[PostRow]


def participant_page(p: ParticipantRow, now: datetime | None = None) -> ParticipantPage:
    today = city_today(now)
    counted = [a for a in p.accounts if a.stats]
    ids = [a.id for a in counted]
    weeks = posts_per_week(ids, today)
    totals = {"followers": p.followers, "accounts": len(p.accounts), "growth": growth(p.accounts, today),
              "posts_month": posts_since(ids, city_midnight(today.replace(day=1)))}
    return ParticipantPage(participant=p, totals=totals, weeks=week_bars(weeks),
                           chart=chart(growth_history(p.accounts)), posts=latest_posts(p.accounts))


# --- the open API -----------------------------------------------------------------------------------------
def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None


def api_participant(p: ParticipantRow) -> dict:
    return {
        "slug": p.slug, "name": p.name, "short_name": p.short_name, "direction": p.direction_code,
        "direction_name": p.direction_name, "site": p.site,
        "accounts": [{"id": a.id, "network": a.network, "label": a.label or None, "title": a.title, "url": a.url,
                      "followers": a.followers if a.stats else None,
                      "posts": a.posts if a.stats else None,
                      "posts_counted_since": iso(a.connected_at) if a.posts_source == "seen" and a.stats else None,
                      "collected_at": iso(a.collected_at)} for a in p.accounts],
    }


def active_account(account_id: int) -> Account | None:
    return db.session.scalar(select(Account).join(Institution, Account.institution_id == Institution.id)
                             .where(Account.id == account_id, Account.is_active.is_(True),
                                    Institution.is_active.is_(True)))


def snapshots(account_id: int, start: date, end: date) -> list[dict]:
    stmt = (select(AccountSnapshot.taken_on, AccountSnapshot.followers, AccountSnapshot.posts)
            .where(AccountSnapshot.account_id == account_id, AccountSnapshot.taken_on >= start,
                   AccountSnapshot.taken_on <= end).order_by(AccountSnapshot.taken_on))
    return [{"date": d.isoformat(), "followers": f, "posts": n} for d, f, n in db.session.execute(stmt)]
