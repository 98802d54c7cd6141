"""The public directory of participants: /participants, a participant's page and the open JSON API read from here.

Built for 550 accounts × 5 years of daily snapshots (≈ 1 M rows) and 1 M posts (bench/participants_bench.py):
- current figures are the denormalised Account.followers / posts (the collector writes them with the snapshot);
- growth over 30 days: that day's snapshots in one range of ix_account_snapshots_taken_on, and for an account
  not collected that day a LIMIT 1 probe of the unique (account_id, taken_on) for the last one before it;
- posts this month: an index-only count on ix_posts_published, less the few posts of hidden accounts;
- the growth chart: a short history day by day, a long one by the Sunday snapshots (one point a week), read on
  the unique index without a sort; the last point is today's current figures;
- latest posts: the newest few of each account through ix_posts_account_published, merged here;
- words repeated for hundreds of accounts (network names, «подписчиков») are translated once per request.
No state is kept in the process: every web process answers the same.

Nothing personal leaves this module: the SM-specialist's name and contacts (Institution.smm_*), tokens and
collection errors are never selected.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import Date, bindparam, func, literal, or_, select, union_all

from app.channels.clean import allowed_hosts
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


_PLAIN_LINK = re.compile(r"https?://[a-z0-9.-]+(?::\d{1,5})?(?:[/?#][^\x00-\x20\x7f\\\"'<>`]*)?", re.IGNORECASE)


def _host_pattern(network: str) -> re.Pattern:
    """An http(s) link to one of the network's hosts (or a subdomain) — what safe_link accepts, as one regex,
    built once per set of hosts (hundreds of accounts on a page)."""
    hosts = allowed_hosts(network) or ()
    return _host_regex(tuple(hosts))


@lru_cache(maxsize=32)
def _host_regex(hosts: tuple[str, ...]) -> re.Pattern:
    names = "|".join(re.escape(h) for h in hosts) or "(?!)"
    return re.compile(rf"https?://(?:[a-z0-9-]+\.)*(?:{names})\.?(?::\d{{1,5}})?(?:[/?#][^\x00-\x20\x7f\\\"'<>`]*)?",
                      re.IGNORECASE)


def public_link(url: str | None, network: str, patterns: dict | None = None) -> str | None:
    """A link a public page may show: http(s) to the network's own hosts (as safe_link); for «other» any plain
    http(s) link (no userinfo, spaces, quotes or control characters). None otherwise: the page shows no link.
    `patterns`: network → its hosts' regex, when the caller checks many links."""
    if not url or not isinstance(url, str) or len(url) > 2000:
        return None
    if network in ("telegram", "vk", "ok", "max"):
        pattern = patterns[network] if patterns else _host_pattern(network)
        return url if pattern.fullmatch(url) else None
    if not _PLAIN_LINK.fullmatch(url) or _URL_UNSAFE.search(url):
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
@dataclass(slots=True)
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
    network_name: str = ""
    followers_text: str = ""  # «1 500 подписчиков», in the page's language


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


def thousands(n: int | None) -> str:
    """1500 → «1 500» (a no-break space between thousands, as Russian writes them)."""
    return f"{n or 0:,}".replace(",", "\u00a0")


class _Words:
    """The words a page repeats for hundreds of accounts, translated once per request."""

    def __init__(self):
        self.networks = {n: str(NETWORK_LABELS.get(n, n)) for n in ACCOUNT_NETWORKS}
        self.forms = (_("подписчик"), _("подписчика"), _("подписчиков"))
        self.russian = str(get_locale() or "ru").split("_")[0] == "ru"
        self.links = {n: _host_pattern(n) for n in ("telegram", "vk", "ok", "max")}

    def followers(self, n: int) -> str:
        one, few, many = self.forms
        if not self.russian:
            word = one if n == 1 else many
        elif n % 10 == 1 and n % 100 != 11:
            word = one
        elif 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            word = few
        else:
            word = many
        return f"{thousands(n)} {word}"


def _account(row, words: _Words) -> AccountRow:
    (account_id, _institution_id, network, label, url, title, followers, posts, posts_source, connected_at,
     collected_at, avatar_path) = row  # positional: hundreds of rows a page
    followers = followers or 0
    name = label if network == "other" and label else words.networks.get(network, network)
    return AccountRow(account_id, network, label or "", public_link(url, network, words.links), title, followers,
                      posts or 0, posts_source or "api", connected_at, collected_at, bool(avatar_path),
                      network != "other", name, words.followers(followers))


def _participant(row) -> ParticipantRow:
    return ParticipantRow(id=row[0], slug=row[1], name=row[2], short_name=row[3] or row[2],
                          site=public_link(row[4], "other"), has_logo=bool(row[5]), public_feedback=bool(row[6]),
                          direction_code=row[7], direction_name=row[8], direction_order=row[9] or 0)


@lru_cache(maxsize=None)
def _statements() -> dict:
    """The directory's fixed statements (SQL structure only, the values bound at execution), built once: building
    them cost more CPU than running them (hundreds of expressions a request)."""
    participants = select(*_INSTITUTION_COLUMNS).join(Direction, Institution.direction_id == Direction.id) \
        .where(Institution.is_active.is_(True))
    accounts = select(*_ACCOUNT_COLUMNS).where(Account.shown())
    since = bindparam("since", type_=Post.__table__.c.published_at.type)
    hidden = select(Account.id).where(Account.id.not_in(_shown_accounts()))
    return {
        "participants": participants,
        "participant": participants.where(Institution.slug == bindparam("slug")),
        "accounts": accounts.join(Institution, Account.institution_id == Institution.id)
        .where(Institution.is_active.is_(True)).order_by(Account.followers.desc(), Account.id),
        "accounts_of": accounts.where(Account.institution_id == bindparam("institution_id"))
        .order_by(Account.followers.desc(), Account.id),
        "posts_since": select(func.count()).select_from(Post).where(Post.published_at >= since, Post.live()),
        "hidden_posts_since": select(func.count()).select_from(Post).where(Post.account_id.in_(hidden),
                                                                           Post.published_at >= since, Post.live()),
    }


def participants(slug: str | None = None) -> list[ParticipantRow]:
    """Active participants (one by `slug`, or all) with their active accounts, most followed first."""
    stmts = _statements()
    found = db.session.execute(stmts["participants"]) if slug is None else \
        db.session.execute(stmts["participant"], {"slug": slug})
    rows = [_participant(r) for r in found]
    if not rows:
        return []
    by_id = {p.id: p for p in rows}
    accounts = db.session.execute(stmts["accounts"]) if slug is None else \
        db.session.execute(stmts["accounts_of"], {"institution_id": rows[0].id})
    words = _Words()
    for r in accounts:
        by_id[r[1]].accounts.append(_account(r, words))
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
def _shown_accounts():
    """SQL: the ids of the accounts a public page shows with figures (active, of an active participant, not a
    plain link) — a subquery, so no list of hundreds of ids travels with each statement."""
    return (select(Account.id).join(Institution, Account.institution_id == Institution.id)
            .where(Account.shown(), Institution.is_active.is_(True), Account.network != "other"))


def posts_this_month(today: date) -> int:
    """Posts of every shown account published since the city month began: all posts on ix_posts_published (an
    index-only range) less the few of hidden accounts."""
    since = {"since": city_midnight(today.replace(day=1))}
    stmts = _statements()
    total = db.session.scalar(stmts["posts_since"], since) or 0
    return total - (db.session.scalar(stmts["hidden_posts_since"], since) or 0)


def followers_on(account_ids: list[int], day: date, every_shown: bool = False) -> dict[int, int]:
    """Each account's followers in its last snapshot on or before `day`, accounts without one left out. The
    snapshots of that very day: with `every_shown` (the ids are all the shown accounts) one range of
    ix_account_snapshots_taken_on, else the unique (account_id, taken_on) for these ids; for an account not
    collected that day, a LIMIT 1 probe on the unique index."""
    if not account_ids:
        return {}
    stmt = select(AccountSnapshot.account_id, AccountSnapshot.followers).where(AccountSnapshot.taken_on == day)
    if not every_shown:
        stmt = stmt.where(AccountSnapshot.account_id.in_(account_ids))
    that_day = dict(db.session.execute(stmt).all())
    found = {i: that_day[i] for i in account_ids if i in that_day}
    missing = [i for i in account_ids if i not in found]
    if missing:
        then = (select(AccountSnapshot.followers)
                .where(AccountSnapshot.account_id == Account.id, AccountSnapshot.taken_on < day)
                .order_by(AccountSnapshot.taken_on.desc()).limit(1).correlate(Account).scalar_subquery())
        rows = db.session.execute(select(Account.id, then).where(Account.id.in_(missing)))
        found.update({account_id: followers for account_id, followers in rows if followers is not None})
    return found


def growth(accounts: list[AccountRow], today: date, days: int = GROWTH_DAYS, everyone: bool = False) -> int | None:
    """Subscribers gained in `days` days: now minus the snapshot on or before that day, for the accounts that had
    one then (an account connected since adds nothing). None when no account has a history that long.
    `everyone`: `accounts` are all the shown accounts (the statement selects them itself)."""
    counted = [a for a in accounts if a.stats]
    then = followers_on([a.id for a in counted], today - timedelta(days=days), every_shown=everyone)
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
        "posts_month": posts_this_month(today),
        "growth": growth(accounts, today, everyone=True),
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
def posts_per_week(account_ids: list[int], today: date, weeks: int = POSTS_WEEKS) -> tuple[list[dict], int]:
    """Posts of these accounts in each of the last `weeks` weeks (Monday to Sunday; the current one too), and
    this month's posts — one read of ix_posts_account_published (the month starts within the 12 weeks)."""
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=weeks - 1)
    month = today.replace(day=1)
    counts = [0] * weeks
    this_month = 0
    if account_ids:
        stmt = select(Post.published_at).where(Post.account_id.in_(account_ids), Post.live(),
                                               Post.published_at >= city_midnight(min(first, month)))
        tz = city_tz()
        for (moment,) in db.session.execute(stmt):
            day = moment.astimezone(tz).date()
            index = (day - first).days // 7
            if 0 <= index < weeks:
                counts[index] += 1
            this_month += day >= month
    return [{"week": first + timedelta(weeks=i), "posts": n} for i, n in enumerate(counts)], this_month


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
    """The newest posts of these accounts: each account's newest `limit` on ix_posts_account_published, in one
    UNION ALL statement, merged here."""
    counted = {a.id: a for a in accounts if a.stats}
    if not counted:
        return []
    columns = (Post.account_id, Post.published_at, Post.text, Post.permalink, Post.views, Post.reactions,
               Post.comments)
    parts = [select(*columns).where(Post.account_id == account_id, Post.live()).order_by(Post.published_at.desc())
             .limit(limit).subquery() for account_id in counted]
    stmt = union_all(*[select(*part.c) for part in parts]) if len(parts) > 1 else select(*parts[0].c)
    found = []
    for r in db.session.execute(stmt):
        a = counted[r.account_id]
        text = " ".join(_CONTROL.sub(" ", r.text or "").split())
        found.append(PostRow(network=a.network, network_name=a.network_name, published_at=r.published_at,
                             text=text[:280] + ("…" if len(text) > 280 else ""),
                             url=public_link(r.permalink, a.network), views=r.views, reactions=r.reactions,
                             comments=r.comments))
    found.sort(key=lambda p: p.published_at, reverse=True)
    return found[:limit]


def _weekday_filter():
    """SQL: the snapshot's day is a Sunday (the last day of a Monday-based week)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return ((AccountSnapshot.taken_on - literal(EPOCH, Date)) % 7) == 6
    return func.cast(func.julianday(AccountSnapshot.taken_on) - func.julianday(EPOCH.isoformat()), db.Integer) % 7 == 6


def growth_history(accounts: list[AccountRow], today: date | None = None) -> dict:
    """Subscribers over time: {"dates": [...], "series": {"all": [...], network: [...]}, "step": 1 | 7}. A short
    history (≤ DAILY_CHART_DAYS) day by day; a longer one week by week — each week's Sunday snapshot, read on the
    unique index (account_id, taken_on) without a sort; the last point is today's current figures. A day without
    a snapshot keeps the account's previous figure, so a missed collection is no dip."""
    counted = [a for a in accounts if a.stats]
    ids = [a.id for a in counted]
    empty = {"dates": [], "series": {}, "step": 1}
    if not ids:
        return empty
    today = today or city_today()
    recent = today - timedelta(days=DAILY_CHART_DAYS)
    # One statement: every day of the last DAILY_CHART_DAYS and the Sundays before — the history decides which.
    stmt = select(AccountSnapshot.account_id, AccountSnapshot.taken_on, AccountSnapshot.followers) \
        .where(AccountSnapshot.account_id.in_(ids), AccountSnapshot.taken_on < today,
               or_(AccountSnapshot.taken_on >= recent, _weekday_filter()))
    points: dict[int, dict[date, int]] = {}
    first = None
    for account_id, day, followers in db.session.execute(stmt):
        points.setdefault(account_id, {})[day] = followers
        first = day if first is None or day < first else first
    if first is None:
        return empty
    step = 1 if first >= recent else 7
    if step == 1:
        dates = [first + timedelta(days=i) for i in range((today - first).days)]
    else:
        sunday = first + timedelta(days=(6 - first.weekday()) % 7)
        dates = [sunday + timedelta(weeks=i) for i in range((today - sunday).days // 7 + 1)
                 if sunday + timedelta(weeks=i) < today]
    dates.append(today)  # the current figures
    series: dict[str, list[int | None]] = {}
    total: list[int | None] = [None] * len(dates)
    for a in counted:
        own = points.get(a.id, {})
        own[today] = a.followers
        line = series.setdefault(a.network, [None] * len(dates))
        latest = None
        for i, day in enumerate(dates):
            latest = own.get(day, latest)
            if latest is not None:
                line[i] = (line[i] or 0) + latest
                total[i] = (total[i] or 0) + latest
    ordered = {n: series[n] for n in ACCOUNT_NETWORKS if n in series and any(v is not None for v in series[n])}
    return {"dates": dates, "series": {"all": total, **ordered} if len(ordered) > 1 else ordered, "step": step}


def chart(history: dict, width: int = 560, height: int = 240, left: int = 58, right: int = 14, top: int = 12,
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

    xs = [x(i) for i in range(n)]
    scale = span_y / peak
    lines = []
    for key, values in series.items():
        pts = " ".join(f"{xs[i]},{top + span_y - v * scale:.1f}" for i, v in enumerate(values) if v is not None)
        last = next((v for v in reversed(values) if v is not None), None)
        first = next((v for v in values if v is not None), None)
        lines.append({"key": key, "name": _("все сети") if key == "all" else network_label(key), "points": pts,
                      "last": thousands(last), "first": thousands(first)})
    ticks = [{"y": y(v), "value": thousands(v)} for v in sorted({0, round(peak / 2), peak})]
    count = min(4, n)
    idx = sorted({round(i * (n - 1) / (count - 1)) for i in range(count)}) if count > 1 else [0]
    labels = [{"x": x(i), "text": dates[i].strftime("%d.%m.%y"),
               "anchor": "start" if i == 0 else ("end" if i == n - 1 else "middle")} for i in idx]
    return {"width": width, "height": height, "left": left, "right": width - right, "bottom": height - bottom,
            "lines": lines, "ticks": ticks, "labels": labels, "first": dates[0], "last": dates[-1],
            "step": history["step"]}


def week_bars(weeks: list[dict], width: int = 560, height: int = 170, left: int = 30, bottom: int = 26,
              top: int = 16) -> dict:
    peak = max([w["posts"] for w in weeks] + [1])
    step = (width - left - 8) / max(len(weeks), 1)
    bars = []
    for i, w in enumerate(weeks):
        h = (height - top - bottom) * w["posts"] / peak
        bars.append({"x": round(left + i * step + step * 0.15, 1), "w": round(step * 0.7, 1),
                     "y": round(height - bottom - h, 1), "h": round(h, 1), "posts": w["posts"],
                     "cx": round(left + i * step + step / 2, 1), "label": w["week"].strftime("%d.%m")})
    mean = sum(w["posts"] for w in weeks) / len(weeks) if weeks else 0
    return {"width": width, "height": height, "bars": bars, "text_y": height - 8,
            "mean": f"{mean:.1f}".replace(".", ",") if str(get_locale() or "ru").startswith("ru") else f"{mean:.1f}",
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
    weeks, this_month = posts_per_week(ids, today)
    totals = {"followers": p.followers, "accounts": len(p.accounts), "growth": growth(p.accounts, today),
              "posts_month": this_month}
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
                             .where(Account.id == account_id, Account.shown(),
                                    Institution.is_active.is_(True)))


def snapshots(account_id: int, start: date, end: date) -> list[dict]:
    stmt = (select(AccountSnapshot.taken_on, AccountSnapshot.followers, AccountSnapshot.posts)
            .where(AccountSnapshot.account_id == account_id, AccountSnapshot.taken_on >= start,
                   AccountSnapshot.taken_on <= end).order_by(AccountSnapshot.taken_on))
    return [{"date": d.isoformat(), "followers": f, "posts": n} for d, f, n in db.session.execute(stmt)]
