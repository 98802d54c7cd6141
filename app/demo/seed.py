"""`flask seed-demo`: fill the database with the demo city of Белогорск.

    seed.run(tickets=2000, days=90, echo=click.echo)

Idempotent: reference rows are looked up by their natural keys (Direction.code, Institution.name,
Account (network, handle), SlaPolicy.name, Category.code, User.username) and only missing ones are
created; tickets are counted by their demo messages (external_id "demo-<n>"), and only the missing
number is added. Deterministic: everything comes from random.Random(2026); only "now" moves, so a
run on another day shifts the same story in time.

Tickets go through the real services (create_ticket, assign, change_status, public_reply, merge) with
historical moments, so numbers, deadlines and the timeline (TicketEvent rows) are what the app itself
would have written. Must run inside an application context (the CLI has one).
"""
from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from time import monotonic

import click
from sqlalchemy import func, select
from sqlalchemy.orm.attributes import flag_modified

from app.demo import data
from app.demo.control_orders import seed_control_orders
from app.demo.publications import give_publishing_tokens, seed_publications
from app.extensions import db
from app.models import (
    OPEN_STATUSES,
    Account,
    AccountSnapshot,
    Category,
    Direction,
    Institution,
    Message,
    Post,
    Publication,
    Reply,
    Resident,
    SlaPolicy,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from app.services import addresses, auth, sla, verdict, workflow
from app.services import tickets as ticket_ops
from app.services.board import hotspots

SEED = 2026
PASSWORD = "demo"
DEMO_PREFIX = "demo-"
COMMIT_EVERY = 200

# Share of each status among the demo tickets (every status appears once there are 8 tickets or more).
STATUS_SHARES = {
    "new": 0.10, "assigned": 0.12, "in_progress": 0.15, "waiting_resident": 0.05,
    "resolved": 0.25, "closed": 0.25, "rejected": 0.06, "merged": 0.02,
}
OVERDUE_SHARE = 0.15  # of the open tickets

# When residents write (local hour → relative weight).
HOUR_WEIGHTS = [0.25, 0.12, 0.06, 0.05, 0.05, 0.1, 0.4, 1.2, 2.5, 3.5, 3.8, 3.6,
                3.0, 2.8, 3.2, 3.2, 3.0, 2.6, 2.4, 2.6, 2.8, 2.4, 1.5, 0.7]
_HOUR_MAX = max(HOUR_WEIGHTS)

# An open ticket that is not overdue was written recently. Tickets already being worked on favour rubrics
# with long deadlines, so the last days are not one spike; open emergencies stay rare (fixed within hours).
NEW_POLICY_FACTOR = {data.POLICY_PLANNED: 1.0, data.POLICY_SOCIAL: 1.0, data.POLICY_EMERGENCY: 0.15}
OPEN_POLICY_FACTOR = {data.POLICY_PLANNED: 5.0, data.POLICY_SOCIAL: 1.0, data.POLICY_EMERGENCY: 0.15}
OVERDUE_POLICY_FACTOR = {data.POLICY_PLANNED: 1.0, data.POLICY_SOCIAL: 1.0, data.POLICY_EMERGENCY: 0.4}

_ALTERNATIVES = re.compile(r"\[([^\[\]]+)\]")


# --- result ---------------------------------------------------------------------------------------
@dataclass
class Summary:
    created: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    totals: dict[str, int] = field(default_factory=dict)
    tickets_requested: int = 0
    tickets_present: int = 0  # demo tickets found before this run
    tickets_created: int = 0
    open_tickets: int = 0
    overdue_tickets: int = 0
    followers: int = 0
    seconds: float = 0.0


def run(tickets: int = 2000, days: int = 90, echo=click.echo) -> Summary:
    """Create whatever of the demo data is missing; print a short summary in Russian through `echo`."""
    started = monotonic()
    days = max(1, int(days))
    tickets = max(0, int(tickets))
    summary = Summary(tickets_requested=tickets)
    session = db.session()
    expire_on_commit, session.expire_on_commit = session.expire_on_commit, False  # keep the working set loaded
    try:
        rng = random.Random(SEED)
        ref = _seed_reference(rng, summary)
        db.session.commit()
        _TicketSeeder(ref, days, summary).run(tickets, progress=echo is click.echo)
        db.session.commit()
        summary.created["control_orders"] += seed_control_orders(ref.users)
        db.session.commit()
        approval = ref.institutions.get(data.APPROVAL_INSTITUTION)
        if approval is not None and not approval.posts_need_approval:
            approval.posts_need_approval = True
        give_publishing_tokens(ref.institutions)
        summary.created["publications"] += seed_publications(ref.users, ref.institutions)
        db.session.commit()
        hotspots.detect()  # the board's recurring problems, as the periodic job would find them
        db.session.commit()
        _count_totals(summary)
    except BaseException:
        db.session.rollback()
        raise
    finally:
        session.expire_on_commit = expire_on_commit
    summary.seconds = monotonic() - started
    _print_summary(summary, echo)
    return summary


# --- reference data --------------------------------------------------------------------------------
@dataclass
class Reference:
    directions: dict[str, Direction]
    institutions: dict[str, Institution]  # slug → row
    districts: dict[str, str]  # slug → microdistrict
    accounts: dict[int, list[Account]]  # institution id → its accounts
    policies: dict[str, SlaPolicy]
    categories: dict[str, Category]
    users: dict[str, User]


def _seed_reference(rng: random.Random, summary: Summary) -> Reference:
    directions = _seed_directions(summary)
    addresses.seed([(street, district) for street, _, district in data.STREETS])  # Белогорск's streets
    institutions, districts = _seed_institutions(rng, directions, summary)
    db.session.flush()
    accounts = _seed_accounts(rng, institutions, summary)
    policies, categories = _seed_categories(directions, institutions, summary)
    db.session.flush()
    users = _seed_users(institutions, summary)
    db.session.flush()
    return Reference(directions, institutions, districts, accounts, policies, categories, users)


def _seed_directions(summary: Summary) -> dict[str, Direction]:
    existing = {d.code: d for d in db.session.scalars(select(Direction))}
    for i, (code, name) in enumerate(data.DIRECTIONS, 1):
        if code not in existing:
            existing[code] = Direction(code=code, name=name, sort_order=i * 10)
            db.session.add(existing[code])
            summary.created["directions"] += 1
    return existing


def _district_of(address: str) -> str:
    for street, _, district in data.STREETS:
        if address.startswith(street):
            return district
    return "Центр"


def _seed_institutions(rng, directions, summary):
    existing = {i.name: i for i in db.session.scalars(select(Institution))}
    taken_slugs = {i.slug for i in existing.values()}
    by_slug: dict[str, Institution] = {}
    districts: dict[str, str] = {}
    for direction, name, short, slug, fixed_address in data.INSTITUTIONS:
        # Draw every time, created or not, so the same rows come out whatever is already there.
        street, _, district = rng.choice(data.STREETS)
        house = rng.randint(1, 140)
        phone = f"+7 ({data.PHONE_CODE}) {rng.choice('22225')}-{rng.randint(0, 99):02d}-{rng.randint(0, 99):02d}"
        if fixed_address:
            street_part, district = fixed_address, _district_of(fixed_address)
        else:
            street_part = f"{street}, {house}"
        inst = existing.get(name)
        if inst is None:
            inst = Institution(direction=directions[direction], name=name, short_name=short[:120], slug=slug,
                               address=f"Амурская обл., г. Белогорск, {street_part}", phone=phone,
                               receives_appeals=direction != "business")
            db.session.add(inst)
            existing[name] = inst
            summary.created["institutions"] += 1
        elif inst.slug != slug and slug not in taken_slugs:  # made before slugs were part of the demo
            inst.slug = slug
        taken_slugs.add(slug)
        by_slug[slug] = inst
        districts[slug] = district
    return by_slug, districts


def _account_url(network: str, handle: str, external_id: str) -> str:
    return {
        "telegram": f"https://t.me/{handle}",
        "vk": f"https://vk.com/{handle}",
        "ok": f"https://ok.ru/group/{external_id}",
        "max": f"https://max.ru/{handle}",
    }[network]


def _external_id(rng: random.Random, network: str) -> str:
    if network == "vk":
        return str(rng.randint(30_000_000, 229_999_999))
    if network == "ok":
        return str(rng.randint(70_000_000_000_000, 70_000_099_999_999))
    if network == "telegram":
        return f"-100{rng.randint(1_000_000_000, 2_999_999_999)}"
    return str(rng.randint(100_000_000, 999_999_999))


def _seed_accounts(rng, institutions, summary) -> dict[int, list[Account]]:
    existing = {(a.network, a.handle): a for a in db.session.scalars(select(Account))}
    plans = []
    for direction, _, _, slug, _ in data.INSTITUTIONS:
        networks = []
        for network in data.NETWORK_ORDER:
            chance = data.NETWORK_PROFILE[network][0]
            if direction == "government" and network in ("vk", "ok"):
                chance = 1.0  # state bodies must keep official pages in VK and OK
            if rng.random() < chance:
                networks.append(network)
        if not networks:
            networks = ["vk"]
        popularity = data.POPULARITY.get(slug, 1.0) * data.DIRECTION_POPULARITY[direction]
        for network in networks:
            _, audience, (g_lo, g_hi) = data.NETWORK_PROFILE[network]
            plans.append({
                "slug": slug, "network": network, "weight": popularity * audience * rng.lognormvariate(0, 0.55),
                "growth": rng.uniform(g_lo, g_hi), "posts_per_week": rng.uniform(1.0, 9.0) * popularity ** 0.3,
                "age_weeks": rng.randint(40, 400) if network != "max" else rng.randint(14, 60),
                "external_id": _external_id(rng, network), "title_full": rng.random() < 0.5,
            })
    scale = data.TOTAL_FOLLOWERS / sum(p["weight"] for p in plans)
    accounts: dict[int, list[Account]] = defaultdict(list)  # institutions were flushed: ids are known
    for p in plans:
        inst = institutions[p["slug"]]
        key = (p["network"], p["slug"])
        account = existing.get(key)
        if account is None:
            followers = max(12, round(p["weight"] * scale))
            posts = max(3, round(p["posts_per_week"] * p["age_weeks"]))
            account = Account(institution=inst, network=p["network"], handle=p["slug"],
                              external_id=p["external_id"],
                              url=_account_url(p["network"], p["slug"], p["external_id"]),
                              title=inst.name if p["title_full"] else inst.short_name,
                              followers=followers, posts=posts,
                              posts_source="seen" if p["network"] in SEEN_NETWORKS else "api")
            db.session.add(account)
            existing[key] = account
            summary.created["accounts"] += 1
        p["account"] = account
        accounts[inst.id].append(account)
    for slug, (label, url) in data.OTHER_LINKS.items():  # plain links: no figures, never a ticket's channel
        key = ("other", f"{slug}_{label.lower().replace(' ', '_')}"[:120])
        if key not in existing:
            existing[key] = Account(institution=institutions[slug], network="other", handle=key[1], url=url,
                                    title=label, label=label, followers=0, posts=0)
            db.session.add(existing[key])
            summary.created["accounts"] += 1
    db.session.flush()
    _seed_history(plans, summary)
    return accounts


# Networks whose API gives no total of posts: the count is of the posts the app has seen since it connected.
SEEN_NETWORKS = ("telegram", "max")


def _seed_history(plans: list[dict], summary: Summary) -> None:
    """Daily figures for HISTORY_DAYS (a MAX channel: since it opened) and a year of posts, for the accounts that
    have none yet (bulk inserts: fast on SQLite). Growth differs by network, direction and season; the last day's
    figures are the account's current ones. A generator of its own, so the tickets' story does not move."""
    today = utcnow().astimezone(sla.city_calendar().tz).date()
    have_days = defaultdict(set)
    for account_id, day in db.session.execute(select(AccountSnapshot.account_id, AccountSnapshot.taken_on)):
        have_days[account_id].add(day)
    have_posts = set(db.session.scalars(select(Post.account_id).where(Post.external_id.like(f"{DEMO_PREFIX}%"))
                                        .distinct()))
    snapshots, posts = [], []
    now = utcnow()
    for p in plans:
        account = p["account"]
        rng = random.Random(f"{SEED}-history-{account.network}-{account.handle}")
        direction = account.institution.direction.code
        days = data.HISTORY_DAYS if account.network != "max" else min(data.HISTORY_DAYS, p["age_weeks"] * 7)
        if account.id in have_posts and len(have_days[account.id]) >= days:
            continue  # made by an earlier run
        daily = _daily_followers(rng, account.followers, p["growth"] * data.DIRECTION_GROWTH.get(direction, 1.0),
                                 data.SEASON.get(direction, {}), today, days)
        post_days = _post_days(rng, p["posts_per_week"], today, min(days, 365))
        if account.id not in have_posts:
            posts += _demo_posts(rng, account, direction, post_days, now)
            summary.created["posts"] += len(post_days)
        if account.posts_source == "seen":
            account.posts = len(post_days)
            account.connected_at = city_midnight(today - timedelta(days=min(days, 365)))
        account.collected_at = account.collected_at or now
        published = sorted(post_days)
        if len(have_days[account.id]) >= days:
            continue
        account_id, total, have = account.id, account.posts, have_days[account.id]
        for k, followers in enumerate(daily):
            day = today - timedelta(days=k)
            if day in have:
                continue
            later = len(published) - bisect_right(published, day)  # posts after this day
            snapshots.append({"account_id": account_id, "taken_on": day, "followers": followers,
                              "posts": max(0, total - later), "collected_at": now, "source": "import"})
    for table, rows in ((AccountSnapshot.__table__, snapshots), (Post.__table__, posts)):  # Core: no ORM per row
        for start in range(0, len(rows), 10_000):
            db.session.execute(table.insert(), rows[start:start + 10_000])
    summary.created["snapshots"] += len(snapshots)


def city_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=sla.city_calendar().tz).astimezone(timezone.utc)


def _daily_followers(rng: random.Random, current: int, weekly: float, season: dict, today: date,
                     days: int) -> list[int]:
    """Followers on today, yesterday, … (`days` values, never growing backwards): each day back removes a
    day's growth — the weekly rate, the month's factor, a weekday rhythm and noise."""
    out, value = [], float(current)
    for k in range(days):
        day = today - timedelta(days=k)
        out.append(max(1, round(value)))
        rhythm = 1.25 if day.weekday() < 5 else 0.6
        rate = weekly / 7 * season.get(day.month, 1.0) * rhythm * rng.uniform(0.2, 1.8)
        if rng.random() < 0.01:
            rate += rng.uniform(0.005, 0.02)  # a repost by the city's page: a jump
        value /= 1 + rate
    return out


def _post_days(rng: random.Random, per_week: float, today: date, days: int) -> list[date]:
    found = []
    for k in range(days):
        day = today - timedelta(days=k)
        expected = per_week / 7 * (1.2 if day.weekday() < 5 else 0.5)
        while expected > 0:
            if rng.random() < min(expected, 1.0):
                found.append(day)
            expected -= 1.0
    return found


def _demo_posts(rng: random.Random, account: Account, direction: str, days: list[date], now: datetime) -> list[dict]:
    """A post on each of `days`, from the direction's templates; views, reactions, comments and reposts where the
    network's API gives them (VK, OK). ~100 thousand rows: plain locals and rng.random() in the loop."""
    templates = data.POST_TEMPLATES.get(direction) or data.POST_TEMPLATES["government"]
    weekdays, streets = data.WEEKDAYS_IN, [street for street, _, _ in data.STREETS]
    rows = []
    offset = utcnow().astimezone(sla.city_calendar().tz).utcoffset()
    account_id, followers = account.id, account.followers
    metrics = account.network in ("vk", "ok")
    link = _post_link(account, 0)[:-1]  # «…/wall-1_» + n
    r = rng.random
    for n, day in enumerate(sorted(days), 1):
        moment = datetime(day.year, day.month, day.day, 8 + int(r() * 13), int(r() * 60), tzinfo=timezone.utc) \
            - offset
        if moment > now:
            moment = now - timedelta(minutes=1 + int(r() * 50))
        text = templates[int(r() * len(templates))].format(
            n=2 + int(r() * 39), day=weekdays[int(r() * 7)], month=data.MONTHS_IN[day.month - 1],
            street=streets[int(r() * len(streets))])
        views = round(followers * (0.08 + r() * 0.52)) if metrics else None
        rows.append({"account_id": account_id, "external_id": f"{DEMO_PREFIX}{n}", "published_at": moment,
                     "text": text, "permalink": f"{link}{n}", "media_count": int(r() * 5),
                     "views": views, "reactions": round(views * (0.01 + r() * 0.07)) if metrics else None,
                     "comments": int(r() * 13) if metrics else None, "reposts": int(r() * 7) if metrics else None,
                     "metrics_at": now if metrics else None, "source": "backfill", "created_at": now})
    return rows


def _post_link(account: Account, n: int) -> str:
    if account.network == "vk":
        return f"https://vk.com/wall-{account.external_id}_{n}"
    if account.network == "ok":
        return f"https://ok.ru/group/{account.external_id}/topic/15500000{n}"
    if account.network == "telegram":
        return f"https://t.me/{account.handle}/{n}"
    return f"https://max.ru/{account.handle}/{n}"


def _seed_categories(directions, institutions, summary):
    policies = {p.name: p for p in db.session.scalars(select(SlaPolicy))}
    for name, first, resolution, business_hours in data.SLA_POLICIES:
        if name not in policies:
            policies[name] = SlaPolicy(name=name, first_response_minutes=first, resolution_minutes=resolution,
                                       business_hours=business_hours)
            db.session.add(policies[name])
            summary.created["policies"] += 1
    categories = {c.code: c for c in db.session.scalars(select(Category))}
    for code, name, direction, inst_slug, policy, keywords, _ in data.CATEGORIES:
        if code not in categories:
            categories[code] = Category(code=code, name=name, direction=directions[direction],
                                        default_institution=institutions[inst_slug], sla_policy=policies[policy],
                                        keywords=keywords)
            db.session.add(categories[code])
            summary.created["categories"] += 1
    return policies, categories


def _seed_users(institutions, summary) -> dict[str, User]:
    users = {}
    for username, role, full_name, inst_slug in data.USERS:
        user = db.session.scalar(select(User).where(func.lower(User.username) == username))
        if user is None:
            user = auth.create_user(username, PASSWORD, role, full_name=full_name,  # «demo»: the local demo only
                                    institution_id=institutions[inst_slug].id if inst_slug else None,
                                    min_password_length=len(PASSWORD))
            summary.created["users"] += 1
        users[username] = user
    return users


# --- tickets ---------------------------------------------------------------------------------------
@dataclass
class Plan:
    status: str
    overdue: bool
    seed: int
    created_at: datetime | None = None
    reject: str | None = None  # reject reason
    category: str | None = None  # category code
    inst: str | None = None  # slug of the institution that finally handles it
    first_inst: str | None = None  # slug of the institution that got it first and returned it
    body: str = ""
    text: str = ""
    address: str | None = None
    district: str | None = None
    priority: str = "normal"
    resolution: list[str] = field(default_factory=list)  # what staff may answer when it is resolved


@dataclass
class Done:
    """What the seeder remembers of a ticket it made (ids only: the rows leave the session after each batch)."""
    ticket_id: int
    status: str
    created_at: datetime
    last_at: datetime  # time of its last event
    institution_id: int | None
    account_id: int
    resident_id: int
    plan: Plan


class _Clock:
    """The moment of the next action on one ticket: never backwards, never past `limit`."""

    def __init__(self, start: datetime, limit: datetime, calendar=None):
        self.t, self.limit, self.calendar = start, max(limit, start), calendar

    def at(self, moment: datetime) -> datetime:
        self.t = min(max(moment, self.t), self.limit)
        return self.t

    def plus(self, base: datetime, minutes: float) -> datetime:
        """`minutes` after `base`: working minutes under a business-hours policy, plain ones otherwise."""
        if self.calendar is not None:
            return self.calendar.add_minutes(base, round(minutes))
        return base + timedelta(minutes=minutes)

    def between(self, a: datetime, b: datetime) -> float:
        if self.calendar is not None:
            return self.calendar.minutes_between(a, b)
        return (b - a).total_seconds() / 60

    def after(self, rng: random.Random, lo: float, hi: float) -> datetime:
        """lo..hi minutes after the current moment (working minutes when the policy counts them)."""
        return self.at(self.plus(self.t, rng.uniform(lo, hi)))


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _quotas(n: int) -> list[str]:
    """n statuses in the configured shares (largest remainder); each one at least once when n >= 8."""
    raw = {s: n * share for s, share in STATUS_SHARES.items()}
    counts = {s: int(v) for s, v in raw.items()}
    for s in sorted(raw, key=lambda s: raw[s] - counts[s], reverse=True)[:n - sum(counts.values())]:
        counts[s] += 1
    if n >= len(STATUS_SHARES):
        for s in STATUS_SHARES:
            while counts[s] == 0:
                donor = max(counts, key=counts.get)
                counts[donor] -= 1
                counts[s] += 1
    return [s for s in STATUS_SHARES for _ in range(counts[s])]


def _person(r: random.Random) -> str:
    female = r.random() < 0.62  # women write to the city hall more often
    first = r.choice(data.FEMALE_NAMES if female else data.MALE_NAMES)
    patronymic = r.choice(data.PATRONYMICS)[1 if female else 0]
    surname = r.choice(data.SURNAMES)
    if female:
        if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
            surname += "а"
        elif surname.endswith("ский"):
            surname = surname[:-4] + "ская"
    style = r.random()
    if style < 0.35:
        return f"{first} {surname[0]}."
    if style < 0.6:
        return f"{first} {patronymic}"
    if style < 0.92:
        return f"{first} {surname}"
    return f"{surname} {first[0]}. {patronymic[0]}."


def _in_season(code: str, d: date) -> bool:
    md = (d.month, d.day)
    if code == "heating":
        return not ((5, 16) <= md <= (9, 14))
    if code == "snow":
        return md >= (10, 25) or md <= (4, 10)
    return True


class _TicketSeeder:
    def __init__(self, ref: Reference, days: int, summary: Summary):
        self.ref, self.days, self.summary = ref, days, summary
        self.calendar = sla.city_calendar()
        self.tz = self.calendar.tz
        self.now = utcnow().replace(second=0, microsecond=0)
        self.limit = self.now - timedelta(minutes=1)
        self.today = self.now.astimezone(self.tz).date()
        self.day_offsets = list(range(days))
        weights = []
        for d in self.day_offsets:
            weekend = (self.today - timedelta(days=d)).weekday() >= 5
            weights.append((1.0 + 2.0 * (1 - d / days)) * (0.65 if weekend else 1.0))
        self.day_cum = _cumulative(weights)
        self.hour_cum = _cumulative(HOUR_WEIGHTS)
        users = ref.users
        self.moderator = next((u for u in (users.get("moderator"), users.get("admin"))
                               if u is not None and u.role in ("admin", "moderator")), None)
        if self.moderator is None:
            raise click.ClickException("Нет пользователя moderator или admin с правом разбирать обращения")
        executor = users.get("executor")
        self.executor = executor if executor is not None and executor.role == "executor" else None
        self.city_hall = ref.institutions[data.CITY_HALL]
        self.schools = [slug for _, _, slug in data.SCHOOLS]
        self.kindergartens = [slug for _, _, slug in data.KINDERGARTENS]
        self.accounts_by_id = {a.id: a for group in ref.accounts.values() for a in group}
        self.institutions_by_id = {i.id: i for i in ref.institutions.values()}
        self.history: list[Done] = []
        self.residents: dict[str, list[int]] = defaultdict(list)  # network → resident ids
        self.resident_seq = 0

    # --- entry point -------------------------------------------------------------------------------
    def run(self, wanted: int, progress: bool) -> None:
        present_ids = db.session.scalars(select(Message.external_id)
                                         .where(Message.external_id.like(DEMO_PREFIX + "%"))).all()
        present = len(present_ids)
        self.summary.tickets_present = present
        if present >= wanted:
            return
        need = wanted - present
        start_n = max((_suffix(x) for x in present_ids), default=0) + 1
        for rid, network, external_id in db.session.execute(
                select(Resident.id, Resident.network, Resident.external_id)
                .where(Resident.external_id.like(DEMO_PREFIX + "%")).order_by(Resident.id)):
            self.residents[network].append(rid)
            self.resident_seq = max(self.resident_seq, _suffix(external_id))
        _expunge(AccountSnapshot)  # not needed any more; a small session keeps every flush and query fast
        plans = self._plans(need, random.Random(SEED + present))
        bar_cm = click.progressbar(length=need, label="Обращения") if progress else nullcontext(_NoBar())
        with bar_cm as bar:
            for i, plan in enumerate(plans):
                self._make(plan, start_n + i)
                self.summary.tickets_created += 1
                bar.update(1)
                if (i + 1) % COMMIT_EVERY == 0:
                    db.session.commit()
                    # next_number()'s UPDATE synchronises with every object in the session: keep it small.
                    _expunge(Ticket, Message, TicketEvent, Reply, Resident)

    # --- planning ----------------------------------------------------------------------------------
    def _plans(self, n: int, rng: random.Random) -> list[Plan]:
        statuses = _quotas(n)
        rng.shuffle(statuses)
        open_idx = [i for i, s in enumerate(statuses) if s in OPEN_STATUSES]
        n_overdue = round(len(open_idx) * OVERDUE_SHARE)
        if n_overdue == 0 and len(open_idx) >= 4:
            n_overdue = 1
        overdue = set(rng.sample(open_idx, n_overdue))
        seeds = [rng.getrandbits(48) for _ in range(n)]
        plans = [self._plan(s, i in overdue, seeds[i]) for i, s in enumerate(statuses)]
        plans.sort(key=lambda p: p.created_at)
        # A merge needs an earlier ticket: never let a merged one be the very first.
        if plans and plans[0].status == "merged":
            j = next((j for j, p in enumerate(plans) if p.status in ("resolved", "closed", "rejected")), None)
            if j is not None:
                plans[0].created_at, plans[j].created_at = plans[j].created_at, plans[0].created_at
                plans.sort(key=lambda p: p.created_at)
        return plans

    def _plan(self, status: str, overdue: bool, seed: int) -> Plan:
        r = random.Random(seed)
        p = Plan(status=status, overdue=overdue, seed=seed)
        if status == "rejected":
            kinds = list(data.REJECT_KIND_WEIGHTS)
            p.reject = r.choices(kinds, weights=[data.REJECT_KIND_WEIGHTS[k] for k in kinds])[0]
        if status in OPEN_STATUSES:
            factor = (OVERDUE_POLICY_FACTOR if overdue else NEW_POLICY_FACTOR if status == "new"
                      else OPEN_POLICY_FACTOR)
            code = self._pick_category(r, self.today, factor)
            template = r.choice(data.TEMPLATES[code])
            self._write(r, p, code, template)
            category = self.ref.categories[code]
            if overdue:
                p.created_at = self._overdue_created(r, category, p.priority)
            elif status == "waiting_resident":  # paused before its deadline: not overdue however old
                p.created_at = self._general_created(r, max_days=21)
            else:
                p.created_at = self._recent_created(r, category, p.priority)
            return p
        p.created_at = self._general_created(r)
        if p.reject and p.reject != "duplicate":
            self._write(r, p, None, r.choice(data.REJECT_TEMPLATES[p.reject]))
            return p
        local_day = p.created_at.astimezone(self.tz).date()
        code = self._pick_category(r, local_day, None)
        self._write(r, p, code, r.choice(data.TEMPLATES[code]))
        return p

    def _pick_category(self, r: random.Random, day: date, factor: dict | None) -> str:
        codes, weights = [], []
        for code, _, _, _, policy, _, weight in data.CATEGORIES:
            if not _in_season(code, day):
                continue
            codes.append(code)
            weights.append(weight * (factor[policy] if factor else 1.0))
        return r.choices(codes, weights=weights)[0]

    def _write(self, r: random.Random, p: Plan, code: str | None, template: dict) -> None:
        """Fill the plan's text, address, institution and priority from a template."""
        ctx = _place_context(r)
        street, district = ctx["street"], ctx["district"]
        inst = template.get("inst")
        if inst == "@school":
            inst = r.choice(self.schools)
            number = re.search(r"№ (\d+)", self.ref.institutions[inst].name).group(1)
            kind = ("гимназии", "гимназии") if "Гимназия" in self.ref.institutions[inst].name else ("школе", "школы")
            ctx.update(school_loc=f"{kind[0]} № {number}", school_gen=f"{kind[1]} № {number}")
        elif inst == "@kindergarten":
            inst = r.choice(self.kindergartens)
            number = re.search(r"№ (\d+)", self.ref.institutions[inst].name).group(1)
            ctx.update(kg_loc=r.choice([f"детском саду № {number}", f"садике № {number}"]),
                       kg_gen=f"детского сада № {number}")
        text = _ALTERNATIVES.sub(lambda m: r.choice(m.group(1).split("|")), template["t"])
        body = _cap(text.format_map(ctx))
        p.body = body
        p.resolution = template.get("res") or data.RESOLVED_FALLBACK
        if p.reject in ("advertising", "spam", "off_topic"):
            p.text = body
        else:
            p.text = r.choice(data.GREETINGS) + body + ("" if p.reject == "thanks" else r.choice(data.ENDINGS))
        p.category = code
        if code is not None:
            p.inst = inst or next(c[3] for c in data.CATEGORIES if c[0] == code)
        else:
            p.inst = inst
        if "{addr}" in template["t"] or "{house}" in template["t"]:
            p.address, p.district = ctx["addr"], district
        elif "{on_street}" in template["t"] or "{On_street}" in template["t"]:
            p.address, p.district = street, district
        elif "{district}" in template["t"]:
            p.district = district
        elif p.inst:
            p.district = self.ref.districts.get(p.inst)
        if r.random() < template.get("urgent", 0.0) or (code and r.random() < 0.01):
            p.priority = "urgent"
        if (template.get("ret") and p.inst == data.EXECUTOR_INSTITUTION and p.status not in ("new", "merged")
                and p.reject is None and r.random() < 0.35):
            p.first_inst, p.inst = p.inst, template["ret"]

    # --- when ----------------------------------------------------------------------------------------
    def _general_created(self, r: random.Random, max_days: int | None = None) -> datetime:
        for _ in range(30):
            d = r.choices(self.day_offsets, cum_weights=self.day_cum)[0]
            if max_days is not None and d > max_days:
                continue
            hour = r.choices(range(24), cum_weights=self.hour_cum)[0]
            local = datetime.combine(self.today - timedelta(days=d), time(hour, r.randrange(60), r.randrange(60)),
                                     self.tz)
            moment = local.astimezone(timezone.utc)
            if moment <= self.now - timedelta(minutes=3):
                return moment
        return self.now - timedelta(minutes=r.uniform(3, 600))

    def _due(self, category: Category, priority: str, start: datetime) -> datetime:
        probe = Ticket(priority=priority)  # transient: only to ask the SLA module for the deadline
        sla.set_deadlines(probe, category, start)
        return probe.resolution_due_at

    def _recent_created(self, r: random.Random, category: Category, priority: str) -> datetime:
        """Recent enough that the resolution deadline is still ahead."""
        policy = category.sla_policy
        if policy.business_hours:
            span = (policy.resolution_minutes / 480 * 1.45 + 1.0) * 1440
        else:
            span = policy.resolution_minutes
        if priority == "urgent":
            span /= 2
        span = min(span, self.days * 1440)
        for attempt in range(40):
            minutes = r.uniform(3, max(span * 0.85 ** max(0, attempt - 10), 4))
            moment = self.now - timedelta(minutes=minutes)
            if attempt < 15 and r.random() > HOUR_WEIGHTS[moment.astimezone(self.tz).hour] / _HOUR_MAX:
                continue
            if self._due(category, priority, moment) > self.now + timedelta(minutes=20):
                return moment
        return self.now - timedelta(minutes=r.uniform(3, 15))

    def _overdue_created(self, r: random.Random, category: Category, priority: str) -> datetime:
        """Old enough that the resolution deadline has passed."""
        for _ in range(60):
            moment = self._general_created(r)
            if self._due(category, priority, moment) < self.now - timedelta(minutes=30):
                return moment
        return self.now - timedelta(days=min(self.days, 14))

    # --- making one ticket ---------------------------------------------------------------------------
    def _make(self, plan: Plan, n: int) -> None:
        r = random.Random(plan.seed + 1)
        status = plan.status
        into: Done | None = None
        account = None
        resident = None
        if status == "merged":
            into = self._merge_target(plan.created_at, r)
            if into is None:  # nothing earlier to merge with: a plain repeat, rejected
                status, plan.reject = "rejected", "duplicate"
            else:
                prefix = r.choice(data.DUPLICATE_PREFIXES)
                src = into.plan
                plan.body = src.body
                plan.text = prefix + src.body
                plan.category, plan.address, plan.district, plan.priority = (
                    src.category, src.address, src.district, src.priority)
                target = self.institutions_by_id.get(into.institution_id)
                plan.inst = next((slug for slug, i in self.ref.institutions.items() if i is target), src.inst)
                account = self.accounts_by_id.get(into.account_id)
                if prefix.startswith("Повторно"):
                    resident = db.session.get(Resident, into.resident_id)
        category = self.ref.categories[plan.category] if plan.category else None
        inst = self.ref.institutions[plan.inst] if plan.inst else None
        if account is None:
            account = self._pick_account(r, inst)
        network = account.network
        if resident is None or resident.network != network:
            resident = self._resident(r, network, plan.created_at)
        new_resident = resident.id is None
        kind = "comment" if r.random() < 0.65 else "direct"
        post = r.randint(100, 9000)
        message = Message(
            network=network, external_id=f"{DEMO_PREFIX}{n}", account_id=account.id, resident=resident, kind=kind,
            text=plan.text, permalink=_permalink(account, kind, post, r),
            thread_key=(f"{network}:{account.handle}:{post}" if kind == "comment" else f"dm:{resident.external_id}"),
            raw={"demo": True}, received_at=plan.created_at - timedelta(seconds=r.randint(5, 240)),
            triaged_at=plan.created_at)
        db.session.add(message)
        ticket = ticket_ops.create_ticket(
            network=network, summary=plan.text, resident=resident, category=category,
            institution=inst if category is None else None, account=account, priority=plan.priority,
            address=plan.address, messages=[message], created_at=plan.created_at)
        ticket.district = plan.district
        addresses.apply_to(ticket, plan.text)  # street and house as intake finds them
        db.session.flush()
        if new_resident:
            self.residents[network].append(resident.id)
        last = self._walk(ticket, plan, status, r, into)
        ticket.updated_at = last
        # An autoflush during the walk may have written this very value already; later changes must not let
        # `onupdate` replace it with the wall clock.
        flag_modified(ticket, "updated_at")
        self.history.append(Done(ticket.id, ticket.status, ticket.created_at, last,
                                 ticket.institution.id if ticket.institution else None, account.id, resident.id,
                                 plan))

    def _pick_account(self, r: random.Random, inst: Institution | None) -> Account:
        own = self.ref.accounts.get(inst.id, []) if inst is not None else []
        pool = own if own and r.random() < 0.55 else self.ref.accounts.get(self.city_hall.id) or own
        if not pool:
            pool = [a for group in self.ref.accounts.values() for a in group]
        return r.choices(pool, weights=[max(a.followers, 10) for a in pool])[0]

    def _resident(self, r: random.Random, network: str, at: datetime) -> Resident:
        pool = self.residents[network]
        if pool and r.random() < 0.2:
            return db.session.get(Resident, r.choice(pool))
        self.resident_seq += 1
        resident = Resident(network=network, external_id=f"{DEMO_PREFIX}{self.resident_seq}",
                            display_name=_person(r), created_at=at)
        db.session.add(resident)
        return resident

    def _merge_target(self, at: datetime, r: random.Random) -> Done | None:
        """An earlier ticket to merge a repeat into: preferably still open, with nothing after `at`."""
        fitting, any_earlier = [], None
        for done in reversed(self.history):
            if done.status in ("merged", "rejected"):
                continue
            if done.created_at < at - timedelta(days=30):
                break
            any_earlier = any_earlier or done
            if done.last_at <= at:
                fitting.append(done)
            if len(fitting) >= 40:
                break
        still_open = [d for d in fitting if d.status in OPEN_STATUSES]
        pool = still_open or fitting
        if pool:
            return r.choice(pool[:10])
        if any_earlier is not None:
            return any_earlier
        return next((d for d in reversed(self.history) if d.status not in ("merged", "rejected")), None)

    # --- the ticket's life -------------------------------------------------------------------------
    def _worker(self, inst: Institution | None) -> User:
        if self.executor is not None and inst is not None and self.executor.institution_id == inst.id:
            return self.executor
        return self.moderator

    def _reply(self, ticket: Ticket, actor: User, text: str, at: datetime, r: random.Random) -> None:
        with db.session.no_autoflush:  # its one query needs only the message, flushed with the ticket
            reply = ticket_ops.public_reply(ticket, actor, text, now=at)
        reply.state, reply.attempts = "sent", 1  # history: already delivered
        reply.sent_at = min(at + timedelta(seconds=r.randint(5, 180)), self.now)

    def _due_text(self, ticket: Ticket) -> str:
        due = ticket.resolution_due_at.astimezone(self.tz)
        bh = ticket.category.sla_policy.business_hours if ticket.category else True
        return due.strftime("%d.%m.%Y") if bh else due.strftime("%H:%M %d.%m.%Y")

    def _walk(self, ticket: Ticket, plan: Plan, status: str, r: random.Random, into: Done | None) -> datetime:
        """Take the ticket from «Новое» to `status` through the services, at increasing moments."""
        mod = self.moderator
        category = ticket.category
        bh = category.sla_policy.business_hours if category else True
        clock = _Clock(ticket.created_at, self.limit, self.calendar if bh else None)
        if status == "waiting_resident" and not plan.overdue:  # asked in time: paused before the deadline
            clock.limit = max(clock.t, min(clock.limit, ticket.resolution_due_at - timedelta(minutes=5)))
        if status == "new":
            return clock.t
        if status == "rejected":
            if plan.reject == "thanks" and r.random() < 0.6:
                self._reply(ticket, mod, r.choice(data.THANKS_REPLIES), clock.after(r, 10, 120), r)
            workflow.change_status(ticket, "rejected", mod, reason=plan.reject, now=clock.after(r, 5, 90))
            return clock.t
        if status == "merged":
            return self._merge(ticket, into, clock, r)

        final = self.ref.institutions[plan.inst] if plan.inst else ticket.institution
        first = self.ref.institutions[plan.first_inst] if plan.first_inst else None
        if first is not None and self._worker(first) is self.executor:
            ticket_ops.assign(ticket, first, mod, now=clock.after(r, 5, 100))
            db.session.flush()
            workflow.change_status(ticket, "new", self.executor, comment=data.RETURN_COMMENT,
                                   now=clock.after(r, 30, 300))
            db.session.flush()
            db.session.expire(ticket, ["institution"])  # change_status cleared only the id
        ticket_ops.assign(ticket, final, mod, now=clock.after(r, 5, 100))
        if r.random() < 0.45:
            text = r.choice(data.ACK_REPLIES).format(number=ticket.number, inst=final.short_name,
                                                     due=self._due_text(ticket))
            self._reply(ticket, mod, text, clock.after(r, 1, 20), r)
        if status == "assigned":
            return clock.t

        worker = self._worker(final)
        workflow.change_status(ticket, "in_progress", worker, now=clock.after(r, 15, 300))
        if status == "in_progress":
            if r.random() < 0.3:
                self._reply(ticket, worker, r.choice(data.WORK_REPLIES), clock.after(r, 5, 120), r)
            return clock.t
        if status == "waiting_resident":
            moment = clock.after(r, 20, 240)
            if plan.overdue:  # asked the resident only after the deadline had passed: stays overdue
                moment = clock.at(max(moment, clock.plus(ticket.resolution_due_at, r.uniform(30, 1440))))
            self._reply(ticket, worker, r.choice(data.CLARIFY_REPLIES), moment, r)
            workflow.change_status(ticket, "waiting_resident", worker, now=moment)
            return clock.t

        # resolved / closed
        if r.random() < 0.12:
            moment = clock.after(r, 20, 240)
            self._reply(ticket, worker, r.choice(data.CLARIFY_REPLIES), moment, r)
            workflow.change_status(ticket, "waiting_resident", worker, now=moment)
            workflow.change_status(ticket, "in_progress", worker, now=clock.after(r, 60, 1440))
        late = self._resolve(ticket, worker, clock, r, plan.resolution, on_time=r.random() < 0.8)
        if status == "resolved":  # still waiting for the resident: some have said «Да» or rated 3-5 already
            if r.random() < 0.2:
                rating = _rating(r, late)
                answer = str(rating) if rating >= 3 else "yes"
                verdict.apply(ticket, answer, ticket.resident, now=clock.after(r, 10, 600), via=ticket.network)
            return clock.t
        # The resident's answer through the verdict service: «Нет» or 1-2 reopens (a repeat complaint).
        roll = r.random()
        answer = None
        if roll < 0.05:
            answer = r.choice(["no", "1", "2"])
        elif roll < 0.55:
            rating = _rating(r, late)
            answer = str(rating) if r.random() < 0.8 else ("yes" if rating >= 3 else "no")
        if answer is not None:
            outcome = verdict.apply(ticket, answer, ticket.resident, now=clock.after(r, 10, 1440), via=ticket.network)
            if outcome == "reopened":
                late = self._resolve(ticket, worker, clock, r, data.RESOLVED_FALLBACK, on_time=False) or late
        elif r.random() < 0.05:
            workflow.change_status(ticket, "in_progress", mod, comment=data.REOPEN_COMMENT,
                                   now=clock.after(r, 240, 2880))
            late = self._resolve(ticket, worker, clock, r, data.RESOLVED_FALLBACK, on_time=False) or late
        workflow.change_status(ticket, "closed", mod, now=clock.after(r, 60, 3 * 480))
        return clock.t

    def _resolve(self, ticket: Ticket, worker: User, clock: _Clock, r: random.Random, texts: list[str],
                 on_time: bool) -> bool:
        """Resolve on time or late; True when late."""
        due = ticket.resolution_due_at
        if on_time and due > clock.t:
            moment = clock.at(clock.plus(clock.t, clock.between(clock.t, due) * r.uniform(0.15, 0.95)))
        elif clock.calendar is not None:
            moment = clock.at(max(clock.plus(due, r.uniform(30, 2400)), clock.plus(clock.t, r.uniform(30, 480))))
        else:
            moment = clock.at(clock.plus(max(due, clock.t), r.uniform(20, 900)))
        self._reply(ticket, worker, r.choice(texts), moment, r)
        workflow.change_status(ticket, "resolved", worker, now=moment)  # answered just before (_reply)
        verdict.ask(ticket)
        return moment > due

    def _merge(self, ticket: Ticket, into: Done, clock: _Clock, r: random.Random) -> datetime:
        mod = self.moderator
        target = db.session.get(Ticket, into.ticket_id)
        if r.random() < 0.3 and target.institution_id in self.institutions_by_id:
            ticket_ops.assign(ticket, self.institutions_by_id[target.institution_id], mod,
                              now=clock.after(r, 5, 90))
        moment = clock.at(max(clock.after(r, 10, 240), into.last_at))
        db.session.flush()
        ticket_ops.merge(ticket, target, mod, now=moment)
        into.last_at = max(into.last_at, moment)
        if target.updated_at is None or target.updated_at < moment:
            target.updated_at = moment
        return moment


# --- helpers -----------------------------------------------------------------------------------------
def _expunge(*models) -> None:
    """Drop clean rows of these models from the session (the seeder keeps ids, not rows, across batches)."""
    session = db.session()
    for obj in list(session.identity_map.values()):
        if isinstance(obj, models) and obj not in session.dirty:
            session.expunge(obj)


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


def _place_context(r: random.Random) -> dict:
    """Street, house, days… to fill a resident text template."""
    street, on_street, district = r.choice(data.STREETS)
    _, on_street2, _ = r.choice([s for s in data.STREETS if s[0] != street])
    house = str(r.randint(1, 140))
    if r.random() < 0.08:
        house += r.choice(["а", "/1", "/2", "б"])
    return {
        "addr": f"{street}, {house}", "street": street, "on_street": on_street, "On_street": _cap(on_street),
        "on_street2": on_street2, "house": house, "district": district, "days": r.choice(data.DAYS),
        "time": r.choice(data.TIMES), "route": r.choice(data.ROUTES), "temp": r.choice(data.TEMPERATURES),
        "entrance": r.randint(1, 6),
    }


def resident_text(r: random.Random) -> str:
    """A realistic resident message (greeting, complaint, ending) for the live simulator."""
    code = r.choice([c for c, items in data.TEMPLATES.items()
                     if any(t.get("inst") not in ("@school", "@kindergarten") for t in items)])
    template = r.choice([t for t in data.TEMPLATES[code] if t.get("inst") not in ("@school", "@kindergarten")])
    text = _ALTERNATIVES.sub(lambda m: r.choice(m.group(1).split("|")), template["t"])
    return r.choice(data.GREETINGS) + _cap(text.format_map(_place_context(r))) + r.choice(data.ENDINGS)


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _suffix(external_id: str) -> int:
    tail = external_id[len(DEMO_PREFIX):]
    return int(tail) if tail.isascii() and tail.isdigit() else 0


def _rating(r: random.Random, late: bool) -> int:
    weights = [20, 15, 25, 20, 20] if late else [6, 5, 12, 27, 50]
    return r.choices([1, 2, 3, 4, 5], weights=weights)[0]


def _permalink(account: Account, kind: str, post: int, r: random.Random) -> str | None:
    if kind != "comment":
        return None
    if account.network == "vk" and account.external_id:
        return f"https://vk.com/wall-{account.external_id}_{post}?reply={r.randint(10_000, 99_999)}"
    if account.network == "ok" and account.external_id:
        return f"https://ok.ru/group/{account.external_id}/topic/{r.randint(10**14, 10**15)}"
    if account.network == "telegram":
        return f"https://t.me/{account.handle}/{post}?comment={r.randint(100, 99_999)}"
    if account.network == "max":
        return f"https://max.ru/{account.handle}/{post}"
    return account.url


def _count_totals(summary: Summary) -> None:
    def count(model):
        return db.session.scalar(select(func.count()).select_from(model))

    now = utcnow()
    summary.totals = {
        "directions": count(Direction), "institutions": count(Institution), "accounts": count(Account),
        "snapshots": count(AccountSnapshot), "posts": count(Post), "policies": count(SlaPolicy),
        "categories": count(Category),
        "users": count(User), "tickets": count(Ticket), "publications": count(Publication),
    }
    summary.followers = db.session.scalar(select(func.coalesce(func.sum(Account.followers), 0)))
    summary.open_tickets = db.session.scalar(select(func.count(Ticket.id))
                                             .where(Ticket.status.in_(OPEN_STATUSES)))
    summary.overdue_tickets = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.is_overdue(now)))


def _print_summary(s: Summary, echo) -> None:
    t, c = s.totals, s.created
    followers = f"{s.followers:,}".replace(",", " ")
    echo("Демо-данные г. Белогорск:")
    echo(f"  направлений: {t['directions']} (новых {c['directions']})")
    echo(f"  учреждений: {t['institutions']} (новых {c['institutions']})")
    echo(f"  аккаунтов в соцсетях: {t['accounts']} (новых {c['accounts']}), подписчиков всего {followers}, "
         f"ежедневных снимков статистики: {t['snapshots']}, публикаций: {t['posts']}")
    echo(f"  рубрик: {t['categories']} (новых {c['categories']}), политик SLA: {t['policies']} "
         f"(новых {c['policies']})")
    echo(f"  пользователей: {t['users']} (новых {c['users']}); вход: "
         f"{', '.join(u[0] for u in data.USERS)}, пароль «{PASSWORD}»")
    echo(f"  постов кросспостинга: {t['publications']} (новых {c['publications']})")
    if s.tickets_created:
        echo(f"  обращений: создано {s.tickets_created}, уже было {s.tickets_present} "
             f"(всего в базе {t['tickets']}; открытых {s.open_tickets}, из них просрочено {s.overdue_tickets})")
    else:
        echo(f"  обращений: новых не создано — демо-обращений уже {s.tickets_present} "
             f"(запрошено {s.tickets_requested})")
    echo(f"Готово за {s.seconds:.1f} с.")
