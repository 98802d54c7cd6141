#!/usr/bin/env python3
"""Load a large synthetic city into PostgreSQL for the queue benchmark (default: 1,000,000 tickets).

    python bench/load_tickets.py --database-url postgresql://postgres@127.0.0.1:5432/om_bench --tickets 1000000

What it does, in order:

1. drops and re-creates the database (only a database whose name contains "bench", unless --force);
2. builds the schema with the project's own migrations (`flask db upgrade`), so the indexes measured
   are exactly the ones production gets;
3. writes the reference data of the demo city (app/demo/data.py: 8 directions, 137 institutions, their
   network accounts, 3 SLA policies, 15 rubrics) and two staff users, `moderator` and `executor`
   (password "bench");
4. streams residents, tickets, one resident message per ticket and the ticket events (created + the
   last status change) with COPY ... FREEZE; the secondary indexes, unique and foreign-key constraints
   of those tables are dropped first and rebuilt afterwards from their own definitions (pg_indexes,
   pg_constraint), which is several times faster than maintaining them row by row and, for the foreign
   keys, re-validates every reference once;
5. sets the sequences and the ticket_counters rows, then VACUUM ANALYZE.

Distributions (deterministic for a given --seed):
  * created_at: 2 years (--days) up to now, traffic growing ~1.7x over the period, fewer on weekends,
    daytime peak in city time (Asia/Yakutsk); ids follow created_at, as in production;
  * status by age: P(open) = 0.215 + 0.785 * exp(-age_days / 30) -- the newest tickets are all open,
    a fifth of old ones are a stale backlog; overall ~25 % open (~10 % new, ~6 % assigned,
    ~6 % in progress, ~3 % waiting for the resident), ~33 % resolved, ~32 % closed, ~7.5 % rejected,
    ~2 % merged;
  * rubric by the demo weights; executor: the rubric's institution (or the template's), 20 % another
    institution of the same direction, 3 % any institution; 35 % of "new" tickets are not triaged yet
    (no rubric, no executor);
  * network: that of the resident (vk 42 %, ok 25 %, telegram 22 %, max 11 %); ~N/3 residents;
  * summary: the resident's text, from the demo's Russian templates (a pool of a few thousand expanded
    texts with streets and houses), so ILIKE search finds realistic words; about 1 ticket in 10,000
    mentions an "электросамокат" (a rare word for the search benchmark);
  * resolution_due_at from the rubric's SLA policy (business hours approximated as calendar time).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import queue
import random
import re
import secrets
import subprocess
import sys
import threading
import time
from bisect import bisect
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent  # the project; --app-dir may point at another checkout

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/om_bench"
PROTECTED = {"postgres", "template0", "template1", "test", "om_gen"}
PASSWORD = "bench"
CITY_TZ = "Asia/Yakutsk"
PREFIX = "БЛГ"
RARE_WORD = "электросамокат"
BIG_TABLES = ("residents", "tickets", "messages", "ticket_events")
CHUNK = 1 << 20  # bytes per COPY write


# --- helpers ------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1).replace("postgres://", "postgresql://", 1)


_ESC = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def esc(value) -> str:
    """A value in COPY text format."""
    if value is None:
        return "\\N"
    return str(value).translate(_ESC)


def jdump(obj) -> str:
    return esc(json.dumps(obj, ensure_ascii=False))


class Stamps:
    """Fast 'YYYY-MM-DD HH:MM:SS+00' for integer epoch seconds (datetime.isoformat is the bottleneck)."""

    def __init__(self, first_day: int, last_day: int):
        self.first = first_day
        self.days = [datetime.fromtimestamp((first_day + i) * 86400, timezone.utc).strftime("%Y-%m-%d ")
                     for i in range(last_day - first_day + 1)]

    def __call__(self, t: int | None) -> str:
        if t is None:
            return "\\N"
        d, s = divmod(t, 86400)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return f"{self.days[d - self.first]}{h:02d}:{m:02d}:{s:02d}+00"


class CopyStream:
    """COPY ... FROM STDIN fed from a queue by a thread, on its own connection and transaction.

    The table is truncated in the same transaction, so COPY FREEZE writes the rows already frozen
    (no hint-bit rewrite and no anti-wraparound vacuum of a million fresh rows later)."""

    def __init__(self, url: str, table: str, columns: list[str]):
        self.table, self.columns = table, columns
        self.rows = 0
        self.error: BaseException | None = None
        self.q: queue.Queue = queue.Queue(maxsize=32)
        self.buf: list[str] = []
        self.size = 0
        self.conn = psycopg.connect(url)
        self.thread = threading.Thread(target=self._run, name=f"copy-{table}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("SET synchronous_commit = off")
                cur.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(self.table)))
                stmt = sql.SQL("COPY {} ({}) FROM STDIN WITH (FREEZE)").format(
                    sql.Identifier(self.table), sql.SQL(", ").join(map(sql.Identifier, self.columns)))
                with cur.copy(stmt) as copy:
                    while (chunk := self.q.get()) is not None:
                        copy.write(chunk)
            self.conn.commit()
        except BaseException as exc:  # reported by close()
            self.error = exc
            while self.q.get() is not None:  # drain so the producer never blocks
                pass

    def add(self, line: str) -> None:
        self.buf.append(line)
        self.size += len(line)
        self.rows += 1
        if self.size >= CHUNK // 2:  # characters, most of them 2-byte Cyrillic
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.q.put("\n".join(self.buf).encode() + b"\n")
            self.buf, self.size = [], 0

    def close(self) -> None:
        self.flush()
        self.q.put(None)
        self.thread.join()
        self.conn.close()
        if self.error is not None:
            raise RuntimeError(f"COPY {self.table} failed: {self.error}") from self.error


# --- database -----------------------------------------------------------------------------------
def recreate_database(url: str) -> None:
    name = db_name(url)
    admin = with_db(url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8'").format(sql.Identifier(name)))


def flask_command(url: str, app_dir: Path, *command: str) -> None:
    env = dict(os.environ, FLASK_APP="app:create_app", DATABASE_URL=url, LANGUAGE="ru",
               SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-" + secrets.token_hex(16))
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, "-m", "flask", *command], cwd=app_dir, env=env, check=True)


def run_migrations(url: str, app_dir: Path) -> None:
    flask_command(url, app_dir, "db", "upgrade")


def secondary_schema(conn, tables) -> tuple[list, list, list]:
    """(drop statements, index/unique statements, foreign-key statements) for `tables`: everything but
    the primary keys, plus foreign keys of other tables that point into them."""
    tables = list(tables)
    drops, builds, fks = [], [], []
    rows = conn.execute("""
        SELECT c.conname, c.conrelid::regclass::text, c.contype, pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.contype IN ('u', 'f')
           AND (c.conrelid::regclass::text = ANY(%s) OR (c.contype = 'f' AND c.confrelid::regclass::text = ANY(%s)))
         ORDER BY c.contype, c.conname""", (tables, tables)).fetchall()
    constraint_names = set()
    for name, table, kind, definition in rows:
        constraint_names.add(name)
        drops.append(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name)))
        add = sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
        (fks if kind == "f" else builds).append(add + sql.SQL(definition))
    for name, definition in conn.execute("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
             WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
                                         (tables,)).fetchall():
        if name in constraint_names:
            continue
        drops.append(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        builds.append(sql.SQL(definition))
    # Trigram (GIN) builds are the longest and single-threaded: start them first.
    builds.sort(key=lambda s: 0 if "gin" in s.as_string(conn).lower() else 1)
    return drops, builds, fks


def run_parallel(url: str, statements, workers: int, label: str) -> None:
    """Run DDL statements on `workers` connections at once (2 cores: two index builds in parallel)."""
    todo: queue.Queue = queue.Queue()
    for s in statements:
        todo.put(s)
    errors: list[BaseException] = []

    def worker():
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            while True:
                try:
                    stmt = todo.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                text = stmt.as_string(conn)
                try:
                    conn.execute(stmt)
                except BaseException as exc:
                    errors.append(exc)
                    return
                log(f"  {label}: {time.perf_counter() - started:5.1f} s  {text[:110]}")

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --- reference data -------------------------------------------------------------------------------
def load_reference(conn, rng: random.Random, data) -> dict:
    from werkzeug.security import generate_password_hash

    now = datetime.now(timezone.utc)
    cur = conn.cursor()
    directions = {}
    for i, (code, name) in enumerate(data.DIRECTIONS, 1):
        cur.execute("INSERT INTO directions (id, code, name, sort_order) VALUES (%s, %s, %s, %s)", (i, code, name, i))
        directions[code] = i
    institutions, inst_direction, inst_short, inst_weight = {}, {}, {}, {}
    for i, (direction, name, short, slug, address) in enumerate(data.INSTITUTIONS, 1):
        phone = f"8 ({data.PHONE_CODE}) {rng.randint(20000, 59999)}"
        cur.execute("""INSERT INTO institutions (id, direction_id, name, short_name, address, phone, is_active,
                                                 created_at, slug) VALUES (%s, %s, %s, %s, %s, %s, true, %s, %s)""",
                    (i, directions[direction], name, short, address, phone, now - timedelta(days=900), f"{slug}-{i}"))
        institutions[slug] = i
        inst_direction[i] = direction
        inst_short[i] = short
        inst_weight[i] = data.POPULARITY.get(slug, 1.0) * data.DIRECTION_POPULARITY.get(direction, 1.0)
    accounts = {}
    urls = {"telegram": "https://t.me/{}", "vk": "https://vk.com/{}", "ok": "https://ok.ru/{}", "max": "https://max.ru/{}"}
    city_hall = institutions.get(data.CITY_HALL, 1)
    for slug, inst_id in institutions.items():
        for network in data.NETWORK_ORDER:
            chance = data.NETWORK_PROFILE[network][0]
            if inst_id == city_hall or rng.random() < chance:
                cur.execute("""INSERT INTO accounts (institution_id, network, handle, external_id, url, title,
                                                     followers, posts, is_active)
                               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, true) RETURNING id""",
                            (inst_id, network, slug, str(rng.randint(10**8, 10**9)), urls[network].format(slug),
                             inst_short[inst_id], rng.randint(50, 9000), rng.randint(10, 3000)))
                accounts[(inst_id, network)] = cur.fetchone()[0]
    policies = {}
    for i, (name, first, resolution, business) in enumerate(data.SLA_POLICIES, 1):
        cur.execute("""INSERT INTO sla_policies (id, name, first_response_minutes, resolution_minutes, business_hours,
                                                 warning_percent) VALUES (%s, %s, %s, %s, %s, 75)""",
                    (i, name, first, resolution, business))
        policies[name] = (i, first, resolution, business)
    categories = {}
    for i, (code, name, direction, slug, policy, keywords, weight) in enumerate(data.CATEGORIES, 1):
        cur.execute("""INSERT INTO categories (id, code, name, direction_id, default_institution_id, sla_policy_id,
                                               keywords, is_active) VALUES (%s, %s, %s, %s, %s, %s, %s, true)""",
                    (i, code, name, directions[direction], institutions[slug], policies[policy][0], keywords))
        categories[code] = {"id": i, "direction": direction, "inst": institutions[slug], "weight": weight,
                            "policy": policies[policy]}
    pw = generate_password_hash(PASSWORD)
    executor_inst = institutions.get(data.EXECUTOR_INSTITUTION, 1)
    users = {}
    for username, role, full_name, inst in (("moderator", "moderator", "Модератор (бенчмарк)", None),
                                            ("executor", "executor", "Исполнитель (бенчмарк)", executor_inst)):
        cur.execute("""INSERT INTO users (username, full_name, password_hash, role, institution_id, is_active_user,
                                          created_at) VALUES (%s, %s, %s, %s, %s, true, %s) RETURNING id""",
                    (username, full_name, pw, role, inst, now))
        users[username] = cur.fetchone()[0]
    for table in ("directions", "institutions", "sla_policies", "categories"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    conn.commit()
    return {"directions": directions, "institutions": institutions, "inst_direction": inst_direction,
            "inst_short": inst_short, "inst_weight": inst_weight, "accounts": accounts, "categories": categories,
            "users": users, "city_hall": city_hall}


# --- texts ------------------------------------------------------------------------------------------
_ALTERNATIVES = re.compile(r"\[([^\[\]]+)\]")


class _Ctx(dict):
    def __missing__(self, key):  # a placeholder the demo adds later must not break the loader
        return ""


def _expand(rng: random.Random, data, template: str, schools, kindergartens):
    street, on_street, district = rng.choice(data.STREETS)
    on_street2 = rng.choice([s for s in data.STREETS if s[0] != street])[1]
    house = str(rng.randint(1, 140)) + (rng.choice(["а", "/1", "/2", "б"]) if rng.random() < 0.08 else "")
    school = rng.choice(schools)
    kg = rng.choice(kindergartens)
    ctx = _Ctx(addr=f"{street}, {house}", street=street, on_street=on_street,
               On_street=on_street[:1].upper() + on_street[1:], on_street2=on_street2, house=house,
               district=district, days=rng.choice(data.DAYS),
               time=rng.choice(data.TIMES), route=rng.choice(data.ROUTES), temp=rng.choice(data.TEMPERATURES),
               entrance=rng.randint(1, 6), school_loc=f"школе № {school[1]}", school_gen=f"школы № {school[1]}",
               kg_loc=f"детском саду № {kg[1]}", kg_gen=f"детского сада № {kg[1]}")
    text = _ALTERNATIVES.sub(lambda m: rng.choice(m.group(1).split("|")), template)
    body = text.format_map(ctx)
    body = body[:1].upper() + body[1:]
    address = district_out = None
    if "{addr}" in template or "{house}" in template:
        address, district_out = ctx["addr"], district
    elif "{on_street}" in template or "{On_street}" in template:
        address, district_out = street, district
    elif "{district}" in template:
        district_out = district
    return body, address, district_out, school[0], kg[0]


def build_pools(rng: random.Random, data, ref: dict, variants: int) -> tuple[dict, dict]:
    """Expanded texts per rubric and per rejection kind: (escaped summary, address, district, institution id)."""
    inst = ref["institutions"]
    number = re.compile(r"№ (\d+)")
    schools = [(inst[slug], number.search(short).group(1)) for _, short, slug in data.SCHOOLS if slug in inst]
    kgs = [(inst[slug], number.search(short).group(1)) for _, short, slug in data.KINDERGARTENS if slug in inst]
    schools = schools or [(ref["city_hall"], "1")]
    kgs = kgs or [(ref["city_hall"], "1")]

    def resolve(slug, school_id, kg_id, default):
        if slug == "@school":
            return school_id
        if slug == "@kindergarten":
            return kg_id
        return inst.get(slug, default) if slug else default

    def wrap(body, ending=True):
        return rng.choice(data.GREETINGS) + body + (rng.choice(data.ENDINGS) if ending else "")

    pools = {}
    for code, templates in data.TEMPLATES.items():
        if code not in ref["categories"]:
            continue
        default = ref["categories"][code]["inst"]
        pool = []
        for tpl in templates:
            for _ in range(variants):
                body, address, district, school_id, kg_id = _expand(rng, data, tpl["t"], schools, kgs)
                pool.append((esc(wrap(body)), esc(address), esc(district),
                             resolve(tpl.get("inst"), school_id, kg_id, default), tpl.get("urgent", 0.0)))
        pools[code] = pool
    # The rare word of the search benchmark.
    rare = []
    for _ in range(variants):
        body, address, district, *_ = _expand(
            rng, data, "[Электросамокат брошен|Кто-то бросил электросамокат|Третий день лежит электросамокат] "
                       "поперёк тротуара {on_street} у дома {house}, [не пройти с коляской|пожилые спотыкаются].",
            schools, kgs)
        yards = ref["institutions"].get("ugkh_blg", ref["city_hall"])
        rare.append((esc(wrap(body)), esc(address), esc(district), yards, 0.0))
    pools["__rare__"] = rare
    rejects = {}
    for kind, templates in data.REJECT_TEMPLATES.items():
        pool = []
        for tpl in templates:
            for _ in range(max(3, variants // 4)):
                body, address, district, school_id, kg_id = _expand(rng, data, tpl["t"], schools, kgs)
                text = body if kind in ("advertising", "spam", "off_topic") else wrap(body, ending=False)
                pool.append((esc(text), "\\N", esc(district), resolve(tpl.get("inst"), school_id, kg_id, None), 0.0))
        rejects[kind] = pool
    return pools, rejects


def person(rng: random.Random, data) -> str:
    female = rng.random() < 0.62
    first = rng.choice(data.FEMALE_NAMES if female else data.MALE_NAMES)
    surname = rng.choice(data.SURNAMES)
    if female and surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        surname += "а"
    return f"{first} {surname[0]}." if rng.random() < 0.35 else f"{first} {surname}"


# --- the big tables -----------------------------------------------------------------------------
TICKET_COLUMNS = ["id", "number", "status", "priority", "category_id", "institution_id", "resident_id", "account_id",
                  "network", "summary", "address", "district", "reject_reason", "duplicate_of_id", "on_control",
                  "rating", "created_at", "updated_at", "assigned_at", "first_response_due_at", "resolution_due_at",
                  "first_responded_at", "resolved_at", "closed_at", "sla_paused_at", "version",
                  "rated_at", "verdict", "verdict_at", "reopen_count"]
MESSAGE_COLUMNS = ["id", "network", "external_id", "account_id", "resident_id", "ticket_id", "kind", "text",
                   "attachments", "permalink", "thread_key", "reply_to_external_id", "raw", "received_at", "triaged_at"]
EVENT_COLUMNS = ["ticket_id", "created_at", "kind", "actor_user_id", "actor_resident_id", "payload"]
RESIDENT_COLUMNS = ["id", "network", "external_id", "display_name", "phone", "email", "consent_at", "created_at"]

NETWORK_WEIGHTS = {"vk": 42, "ok": 25, "telegram": 22, "max": 11}
HOUR_WEIGHTS = [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 4, 5, 5.5, 5.5, 5, 5, 5.5, 5.5, 5, 5, 5, 5, 4.5, 3.5, 2.5, 1.5]
OPEN_SPLIT = (("new", 0.40), ("assigned", 0.24), ("in_progress", 0.24), ("waiting_resident", 0.12))
DONE_SPLIT = (("resolved", 0.445), ("closed", 0.43), ("rejected", 0.10), ("merged", 0.025))
REJECT_KINDS = {"thanks": 50, "advertising": 14, "spam": 10, "off_topic": 16, "duplicate": 10}


def _cum(pairs):
    names = [p[0] for p in pairs]
    return names, list(accumulate(p[1] for p in pairs))


def creation_times(rng: random.Random, n: int, days: int, now: int, tz: ZoneInfo) -> list[int]:
    """n sorted epoch seconds over the last `days` days (growth, weekends, daytime peak in city time)."""
    today_local = datetime.fromtimestamp(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    starts, weights = [], []
    for k in range(days, -1, -1):
        day = today_local - timedelta(days=k)
        starts.append(int(day.timestamp()))
        growth = 0.6 + 0.4 * (days - k) / days
        weights.append(growth * (0.65 if day.weekday() >= 5 else 1.0))
    day_idx = rng.choices(range(len(starts)), weights=weights, k=n)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=n)
    rand = rng.random
    out = []
    for d, h in zip(day_idx, hours, strict=True):
        t = starts[d] + h * 3600 + int(rand() * 3600)
        out.append(t if t < now else now - int(rand() * 600) - 1)
    out.sort()
    return out


def year_starts(tz: ZoneInfo, first: int, last: int) -> tuple[list[int], list[int]]:
    y0 = datetime.fromtimestamp(first, tz).year
    y1 = datetime.fromtimestamp(last, tz).year
    years = list(range(y0, y1 + 2))
    return years, [int(datetime(y, 1, 1, tzinfo=tz).timestamp()) for y in years]


def load_big_tables(url: str, rng: random.Random, data, ref: dict, n: int, days: int, with_messages: bool,
                    with_events: bool, variants: int) -> dict:
    tz = ZoneInfo(CITY_TZ)
    now = int(time.time())
    t0 = time.perf_counter()
    log(f"texts: expanding templates ({variants} variants each)")
    pools, rejects = build_pools(rng, data, ref, variants)
    log(f"created_at: drawing {n:,} moments over {days} days")
    created = creation_times(rng, n, days, now, tz)
    stamp = Stamps(created[0] // 86400 - 40, now // 86400 + 60)
    years, ystarts = year_starts(tz, created[0], now)
    log(f"  ready in {time.perf_counter() - t0:.1f} s")

    # residents
    n_res = max(1, n // 3)
    net_names = list(NETWORK_WEIGHTS)
    res_net = [None] + rng.choices(net_names, weights=list(NETWORK_WEIGHTS.values()), k=n_res)
    res_ext = [None] + [str(100_000_000 + i * 37 + rng.randint(0, 36)) for i in range(1, n_res + 1)]
    start_res = time.perf_counter()
    rs = CopyStream(url, "residents", RESIDENT_COLUMNS)
    names = [esc(person(rng, data)) for _ in range(5000)]
    first_day = created[0] - 86400 * 30
    for i in range(1, n_res + 1):
        phone = f"+7914{rng.randint(1000000, 9999999)}" if rng.random() < 0.15 else "\\N"
        rs.add(f"{i}\t{res_net[i]}\t{res_ext[i]}\t{names[i % 5000]}\t{phone}\t\\N\t\\N\t{stamp(first_day + i % 86400)}")
    rs.close()
    log(f"residents: {n_res:,} rows in {time.perf_counter() - start_res:.1f} s")

    # tickets, messages, events -- one pass, three COPY streams on three connections
    streams = {"tickets": CopyStream(url, "tickets", TICKET_COLUMNS)}
    if with_messages:
        streams["messages"] = CopyStream(url, "messages", MESSAGE_COLUMNS)
    if with_events:
        streams["ticket_events"] = CopyStream(url, "ticket_events", EVENT_COLUMNS)
    tk = streams["tickets"]
    ms = streams.get("messages")
    ev = streams.get("ticket_events")

    cats = ref["categories"]
    cat_codes = [c for c in cats if c in pools]
    cat_cum = list(accumulate(cats[c]["weight"] for c in cat_codes))
    cat_total = cat_cum[-1]
    by_direction: dict[str, tuple[list[int], list[float]]] = {}
    for inst_id, direction in ref["inst_direction"].items():
        ids, cum = by_direction.setdefault(direction, ([], []))
        ids.append(inst_id)
        cum.append((cum[-1] if cum else 0) + ref["inst_weight"][inst_id])
    all_ids = sorted(ref["inst_weight"])
    all_cum = list(accumulate(ref["inst_weight"][i] for i in all_ids))
    accounts = ref["accounts"]
    city_hall = ref["city_hall"]
    moderator = ref["users"]["moderator"]
    assigned_payload = {i: jdump({"institution_id": i, "institution": short, "previous": None})
                        for i, short in ref["inst_short"].items()}
    status_payload: dict = {}
    open_names, open_cum = _cum(OPEN_SPLIT)
    done_names, done_cum = _cum(DONE_SPLIT)
    rej_names, rej_cum = _cum(list(REJECT_KINDS.items()))
    rej_total = rej_cum[-1]
    rare_pool, rare_share = pools["__rare__"], 1e-4
    # SLA in seconds: (first response, resolution); business hours approximated as calendar time.
    sla = {}
    for c, info in cats.items():
        _, first, resolution, business = info["policy"]
        k = 4.2 if business else 1.0  # 8 of 24 hours, 5 of 7 days
        sla[c] = (int(first * 60 * (2.0 if business else 1.0)), int(resolution * 60 * k))
    default_sla = (3600, int(9 * 60 * 60 * 4.2))
    counters: dict[int, int] = {}
    status_count: dict[str, int] = {}
    rand, randint, choice = rng.random, rng.randint, rng.choice
    yi = 0
    report_every = max(1, n // 20)
    started = time.perf_counter()
    for i in range(1, n + 1):
        c_at = created[i - 1]
        while yi + 1 < len(ystarts) and c_at >= ystarts[yi + 1]:
            yi += 1
        year = years[yi]
        seq = counters.get(year, 0) + 1
        counters[year] = seq
        age_days = (now - c_at) / 86400
        if rand() < 0.215 + 0.785 * math.exp(-age_days / 30):
            status = open_names[bisect(open_cum, rand() * open_cum[-1])]
        else:
            status = done_names[bisect(done_cum, rand() * done_cum[-1])]
            if status == "closed" and age_days < 3:
                status = "resolved"
            if status == "merged" and i < 100:
                status = "rejected"
        reject = None
        code = None
        if status == "rejected":
            reject = rej_names[bisect(rej_cum, rand() * rej_total)]
        if reject is not None and reject != "duplicate":
            summary, address, district, inst, urgent = choice(rejects[reject])
            category_id = "\\N"
            if inst is None:
                inst = city_hall
        else:
            code = cat_codes[bisect(cat_cum, rand() * cat_total)]
            pool = rare_pool if rand() < rare_share else pools[code]
            summary, address, district, inst, urgent = choice(pool)
            category_id = cats[code]["id"]
            r = rand()
            if r < 0.03:
                inst = all_ids[bisect(all_cum, rand() * all_cum[-1])]
            elif r < 0.23:
                ids, cum = by_direction[ref["inst_direction"][inst]]
                inst = ids[bisect(cum, rand() * cum[-1])]
            if status == "new" and rand() < 0.35:
                category_id, inst, code = "\\N", None, None
            if reject == "duplicate" or status == "merged":
                summary = esc(choice(data.DUPLICATE_PREFIXES)) + summary
        priority = "urgent" if (rand() < urgent or rand() < 0.01) else "normal"
        rid = randint(1, n_res)
        network = res_net[rid]
        if inst is not None and (inst, network) in accounts and rand() < 0.55:
            account = accounts[(inst, network)]
        else:
            account = accounts.get((city_hall, network), "\\N")
        first_s, res_s = sla.get(code, default_sla)
        if priority == "urgent":
            res_s //= 2
        due_first = c_at + first_s
        due = c_at + res_s
        assigned_at = responded = resolved = closed = paused = None
        rating = "\\N"
        rated = None
        verdict = "\\N"
        reopens = "1" if status in ("in_progress", "closed") and rand() < 0.04 else "0"
        dup = "\\N"
        updated = c_at
        if status in ("assigned", "in_progress", "waiting_resident", "resolved", "closed"):
            assigned_at = min(now, c_at + randint(300, 6 * 3600))
            responded = min(now, c_at + randint(120, 3 * 3600))
            updated = max(assigned_at, responded)
        if status == "waiting_resident":
            paused = min(now, c_at + int(res_s * (0.2 + 1.4 * rand())))
            updated = max(updated, paused)
        elif status in ("resolved", "closed"):
            span = res_s * (0.1 + 0.9 * rand()) if rand() < 0.78 else res_s + randint(3600, 6 * 86400)
            resolved = min(now - 1, c_at + int(span))
            updated = max(updated, resolved)
            if status == "closed":
                closed = min(now, resolved + randint(86400, 7 * 86400))
                updated = closed
                if rand() < 0.6:
                    rating = str(randint(1, 5) if rand() < 0.3 else randint(4, 5))
                    rated = min(closed, resolved + randint(600, 86400))
                    verdict = "yes" if int(rating) >= 3 else "no"
        elif status in ("rejected", "merged"):
            responded = min(now, c_at + randint(120, 3 * 3600))
            updated = responded
            if status == "merged":
                dup = str(randint(max(1, i - 3000), i - 1))
        if status == "rejected":
            reject_txt = reject
        else:
            reject_txt = "\\N"
        status_count[status] = status_count.get(status, 0) + 1
        inst_txt = "\\N" if inst is None else str(inst)
        tk.add("\t".join((
            str(i), f"{PREFIX}-{year}-{seq:06d}", status, priority, str(category_id), inst_txt, str(rid), str(account),
            network, summary, address, district, reject_txt, dup, "t" if rand() < 0.005 else "f", rating,
            stamp(c_at), stamp(updated), stamp(assigned_at), stamp(due_first), stamp(due), stamp(responded),
            stamp(resolved), stamp(closed), stamp(paused), "1" if status == "new" else "2",
            stamp(rated), verdict, stamp(rated), reopens)))
        if ms is not None:
            comment = rand() < 0.65
            ms.add("\t".join((
                str(i), network, f"{res_ext[rid]}:{i}", str(account), str(rid), str(i),
                "comment" if comment else "direct", summary, "[]",
                f"https://example.invalid/{network}/post/{i % 9000 + 100}?reply={i}" if comment else "\\N",
                f"{network}:post:{i % 9000 + 100}" if comment else f"dm:{res_ext[rid]}", "\\N", '{"bench": true}',
                stamp(c_at - 5 - i % 200), stamp(c_at) if status != "new" else "\\N")))
        if ev is not None:
            ev.add(f"{i}\t{stamp(c_at)}\tcreated\t\\N\t{rid}\t{{\"network\": \"{network}\"}}")
            if status != "new":
                if status in ("assigned", "in_progress", "waiting_resident", "resolved", "closed") and inst is not None:
                    ev.add(f"{i}\t{stamp(assigned_at)}\tassigned\t{moderator}\t\\N\t{assigned_payload[inst]}")
                when = closed or resolved or paused or assigned_at or responded
                key = (status, reject)
                if key not in status_payload:
                    payload = {"from": "new", "to": status}
                    if reject:
                        payload["reason"] = reject
                    status_payload[key] = jdump(payload)
                ev.add(f"{i}\t{stamp(when)}\tstatus\t{moderator}\t\\N\t{status_payload[key]}")
        if i % report_every == 0 or i == n:
            el = time.perf_counter() - started
            log(f"  tickets {i:>10,} / {n:,}  ({i / el:,.0f} rows/s)"
                + (f", messages {ms.rows:,}" if ms else "") + (f", events {ev.rows:,}" if ev else ""))
    for s in streams.values():
        s.close()
    log(f"tickets{', messages' if ms else ''}{', events' if ev else ''} streamed in "
        f"{time.perf_counter() - started:.1f} s")
    return {"counters": counters, "status": status_count, "residents": n_res,
            "messages": ms.rows if ms else 0, "events": ev.rows if ev else 0}


# --- main -------------------------------------------------------------------------------------------
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
                    help=f"database to (re)create (default: $BENCH_DATABASE_URL or {DEFAULT_URL})")
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=730, help="period the tickets are spread over")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--variants", type=int, default=60, help="expanded texts per template")
    ap.add_argument("--no-messages", action="store_true", help="skip the one-message-per-ticket table")
    ap.add_argument("--no-events", action="store_true", help="skip ticket events")
    ap.add_argument("--force", action="store_true", help="allow a database whose name has no 'bench' in it")
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="checkout of the project whose migrations and demo data to use (default: this one)")
    args = ap.parse_args(argv)

    url = psycopg_url(args.database_url)
    parts = urlsplit(url)
    name = db_name(url)
    if not name or name in PROTECTED:
        ap.error(f"refusing to drop the database {name!r}")
    if "bench" not in name and not args.force:
        ap.error(f"the database {name!r} will be DROPPED; use a name with 'bench' in it, or --force")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1", None):
        ap.error("the benchmark database must be on this machine (127.0.0.1)")
    if args.tickets < 1:
        ap.error("--tickets must be positive")

    app_dir = args.app_dir.resolve()
    if not (app_dir / "app" / "__init__.py").exists():
        ap.error(f"--app-dir {app_dir}: no app/ package there")
    sys.path.insert(0, str(app_dir))
    from app.demo import data  # the demo city's reference material (read only)

    rng = random.Random(args.seed)
    total = time.perf_counter()
    phases: dict[str, float] = {}

    def phase(label, started):
        phases[label] = time.perf_counter() - started

    log(f"database {name}: drop and create")
    t = time.perf_counter()
    recreate_database(url)
    log("schema: flask db upgrade (the project's migrations)")
    run_migrations(url, app_dir)
    phase("create + migrate", t)

    t = time.perf_counter()
    with psycopg.connect(url) as conn:
        ref = load_reference(conn, rng, data)
        log(f"reference: {len(ref['directions'])} directions, {len(ref['institutions'])} institutions, "
            f"{len(ref['accounts'])} accounts, {len(ref['categories'])} categories, users moderator/executor "
            f"(password {PASSWORD!r})")
        drops, builds, fks = secondary_schema(conn, BIG_TABLES)
        for stmt in drops:
            conn.execute(stmt)
        # the board's rollup trigger (migration 0031) would mark every loaded day dirty row by row: off for the
        # load, the rollups are built once at the end (`flask board rebuild-rollups`)
        conn.execute("ALTER TABLE tickets DISABLE TRIGGER USER")
        conn.commit()
        log(f"dropped {len(drops)} secondary indexes/constraints of {', '.join(BIG_TABLES)} for the load")
    phase("reference data", t)

    t = time.perf_counter()
    stats = load_big_tables(url, rng, data, ref, args.tickets, args.days, not args.no_messages, not args.no_events,
                            args.variants)
    phase("COPY rows", t)

    t = time.perf_counter()
    log(f"rebuilding {len(builds)} indexes / unique constraints (2 at a time)")
    run_parallel(url, builds, 2, "index")
    phase("indexes", t)
    t = time.perf_counter()
    log(f"re-adding {len(fks)} foreign keys (each validated once)")
    run_parallel(url, fks, 2, "fk")
    phase("foreign keys", t)

    t = time.perf_counter()
    with psycopg.connect(url) as conn:
        for year, last in sorted(stats["counters"].items()):
            conn.execute("INSERT INTO ticket_counters (year, last) VALUES (%s, %s)", (year, last))
        for table in ("accounts", "users", "residents", "tickets", "messages", "ticket_events"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"greatest((SELECT max(id) FROM {table}), 1))")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        log("VACUUM ANALYZE")
        conn.execute("VACUUM ANALYZE")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        tsize = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('tickets'))").fetchone()[0]
    phase("counters + VACUUM ANALYZE", t)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE tickets ENABLE TRIGGER USER")
        has_rollups = conn.execute("SELECT to_regclass('public.board_rollups') IS NOT NULL").fetchone()[0]
        has_late_counts = conn.execute("SELECT to_regclass('public.workspace_late_counts') IS NOT NULL").fetchone()[0]
    if has_late_counts:  # /my's overdue counts (migration 0033): their trigger was off for the load too
        t = time.perf_counter()
        log("/my's overdue counts: flask workspace rebuild-late-counts")
        flask_command(url, app_dir, "workspace", "rebuild-late-counts")
        phase("workspace late counts", t)
    if has_rollups:
        t = time.perf_counter()
        log("the board's daily rollups: flask board rebuild-rollups")
        flask_command(url, app_dir, "board", "rebuild-rollups")
        phase("board rollups", t)

    elapsed = time.perf_counter() - total
    n = args.tickets
    # queue_bench.py reports how the data set was made: keep it with the database, outside the schema.
    meta = {"tickets": n, "residents": stats["residents"], "messages": stats["messages"], "events": stats["events"],
            "days": args.days, "seed": args.seed, "loaded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_seconds": round(elapsed, 1), "phases": {k: round(v, 1) for k, v in phases.items()},
            "status": stats["status"], "size": size}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal("om-bench " + json.dumps(meta, ensure_ascii=False))))
    print()
    print(f"Loaded {n:,} tickets, {stats['residents']:,} residents, {stats['messages']:,} messages, "
          f"{stats['events']:,} events into {name} ({size}; tickets with indexes {tsize})")
    print("  status: " + ", ".join(f"{s} {c / n:.1%}" for s, c in sorted(stats["status"].items(), key=lambda x: -x[1])))
    print("  ticket_counters: " + ", ".join(f"{y}: {c:,}" for y, c in sorted(stats["counters"].items())))
    for label, secs in phases.items():
        print(f"  {label:<28} {secs:7.1f} s")
    print(f"  {'total':<28} {elapsed:7.1f} s  ({elapsed / 60:.1f} min)")
    print(f"Next: python bench/queue_bench.py --database-url {args.database_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
