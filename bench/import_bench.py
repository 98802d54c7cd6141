#!/usr/bin/env python3
"""Import of a city's history (`flask tickets import`, issue 15): a generated CSV of 100,000 past appeals loaded
into its own database, timed end to end (the command as a user runs it: a new process, the file read and checked,
the batches written), then the same file again (idempotent: nothing new).

    python bench/import_bench.py                       # om_bench_import on 127.0.0.1, 100,000 rows
    python bench/import_bench.py --rows 20000 --no-write

The database is dropped and re-created (the benchmark's own). The CSV has HTML from portal editors in part of
the texts, rubric and institution names spelled with other case, «ё» and spaces, dates as ДД.ММ.ГГГГ ЧЧ:ММ,
an answer in half the rows. The figures go to bench/RESULTS.md between the "import-bench:begin/end" markers.
A benchmark, not a test: nothing asserts a time; a run that does not load every row is an error (exit 1).
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import secrets
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_tickets import recreate_database, run_migrations  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/om_bench_import"
BEGIN, END = "<!-- import-bench:begin -->", "<!-- import-bench:end -->"
HEADING = "## Импорт истории обращений (issue 15)"

INSTITUTIONS = [("МКУ «Управление ЖКХ» г. Белогорск", "Управление ЖКХ"), ("МУП «Горводоканал»", "Горводоканал"),
                ("МУП «Городские электросети»", "Горэлектросеть"), ("МБУ «Дорожное хозяйство»", "Дорхоз"),
                ("ООО «Чистый город»", "Чистый город"), ("МУП «Теплосети»", "Теплосети"),
                ("Администрация г. Белогорск", "Администрация города"), ("МКУ «Управление образования»", "Гороно")]
CATEGORIES = ["Дороги и ямы", "Уличное освещение", "Вывоз мусора", "Водоснабжение", "Отопление",
              "Благоустройство дворов", "Общественный транспорт", "Образование", "Снег и наледь", "Озеленение"]
STREETS = ["ул. Ленина", "ул. Гагарина", "ул. Мира", "ул. Советская", "ул. Кирова", "ул. Партизанская",
           "пер. Почтовый", "ул. Ёлочная"]
PHRASES = ["Во дворе дома {a} огромная яма, машины ломаются", "Третий день не горит фонарь у дома {a}",
           "Не вывозят мусор с контейнерной площадки у дома {a}", "Нет холодной воды в доме {a}",
           "В квартирах холодно, батареи еле тёплые, {a}", "Сломаны качели на детской площадке у дома {a}",
           "Автобус № 5 не ходит по расписанию, остановка у дома {a}", "Не убран снег и наледь на тротуаре у {a}",
           "Просим спилить аварийное дерево во дворе {a}", "В школе рядом с домом {a} не работает столовая"]


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def spelled(name: str, rng: random.Random) -> str:
    """The name as a portal export might spell it: other case, extra spaces, «е» for «ё»."""
    r = rng.random()
    if r < 0.3:
        return name.upper()
    if r < 0.5:
        return "  " + name.replace(" ", "  ").lower() + " "
    return name.replace("ё", "е")


def make_csv(path: Path, rows: int, seed: int) -> None:
    rng = random.Random(seed)
    start = datetime(2023, 1, 1, 8, 0)
    span = (datetime(2025, 12, 31) - start).total_seconds()
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["Номер", "Текст", "Рубрика", "Исполнитель", "Дата", "Адрес", "Ответ"])
        for i in range(rows):
            address = f"{rng.choice(STREETS)}, {rng.randint(1, 120)}"
            k = rng.randrange(len(CATEGORIES))
            text = PHRASES[k].format(a=address)
            if rng.random() < 0.3:
                text = f"<p>Здравствуйте!</p><p>{text}&nbsp;&mdash; просим принять меры.</p><br/>Спасибо"
            when = start + timedelta(seconds=rng.random() * span)
            name, short = INSTITUTIONS[k % len(INSTITUTIONS)]
            answer = "Работы выполнены, <b>проблема устранена</b>." if rng.random() < 0.5 else ""
            w.writerow([f"P-{i + 1:07d}", text, spelled(CATEGORIES[k], rng),
                        spelled(name if rng.random() < 0.5 else short, rng), f"{when:%d.%m.%Y %H:%M}",
                        address, answer])


def seed_reference(url: str) -> None:
    """A direction, the institutions and the rubrics the file names (one SLA policy)."""
    with psycopg.connect(url, autocommit=True) as conn:
        d = conn.execute("INSERT INTO directions (code, name, sort_order) VALUES ('government', 'Органы власти', 0) "
                         "RETURNING id").fetchone()[0]
        p = conn.execute("INSERT INTO sla_policies (name, first_response_minutes, resolution_minutes, business_hours,"
                         " warning_percent) VALUES ('Плановая', 60, 3360, true, 75) RETURNING id").fetchone()[0]
        ids = []
        for n, (name, short) in enumerate(INSTITUTIONS):
            ids.append(conn.execute(
                "INSERT INTO institutions (direction_id, name, short_name, is_active, created_at, slug, "
                "receives_appeals, public_feedback, posts_need_approval) VALUES (%s, %s, %s, true, now(), %s, true, "
                "true, false) RETURNING id", (d, name, short, f"inst-{n}")).fetchone()[0])
        for n, name in enumerate(CATEGORIES):
            conn.execute("INSERT INTO categories (code, name, direction_id, default_institution_id, sla_policy_id, "
                         "keywords, is_active) VALUES (%s, %s, %s, %s, %s, '', true)",
                         (f"c{n}", name, d, ids[n % len(ids)], p))


def run_import(url: str, csv_path: Path, batch: int) -> tuple[float, str]:
    env = dict(os.environ, FLASK_APP="app:create_app", DATABASE_URL=url, LANGUAGE="ru",
               SECRET_KEY=os.environ.get("SECRET_KEY") or "bench-" + secrets.token_hex(16))
    env.pop("REDIS_URL", None)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flask", "tickets", "import", str(csv_path), "--batch", str(batch),
                          "--map", "external_id=Номер,text=Текст,category=Рубрика,institution=Исполнитель,"
                                   "created_at=Дата,address=Адрес,answer=Ответ"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"import failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return elapsed, out.stdout


def write_results(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    body = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in body and END in body:
        body = body[:body.index(BEGIN)] + block + body[body.index(END) + len(END):]
    else:
        body = body.rstrip() + f"\n\n{HEADING}\n\n{block}\n"
    path.write_text(body, encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL))
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--no-write", action="store_true", help="print only, leave bench/RESULTS.md alone")
    args = ap.parse_args()
    csv_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"import_bench_{args.rows}.csv"
    log(f"generating {args.rows} rows → {csv_path}")
    make_csv(csv_path, args.rows, args.seed)
    log(f"re-creating {args.database_url}")
    recreate_database(args.database_url)
    run_migrations(args.database_url, ROOT)
    seed_reference(args.database_url)
    log("import")
    first, out1 = run_import(args.database_url, csv_path, args.batch)
    log(f"first run: {first:.1f} s\n{out1.strip().splitlines()[-1]}")
    log("the same file again")
    second, out2 = run_import(args.database_url, csv_path, args.batch)
    log(f"second run: {second:.1f} s\n{out2.strip().splitlines()[-1]}")
    with psycopg.connect(args.database_url) as conn:
        loaded = conn.execute("SELECT count(*) FROM tickets WHERE imported").fetchone()[0]
        events = conn.execute("SELECT count(*) FROM ticket_events").fetchone()[0]
        replies = conn.execute("SELECT count(*) FROM replies").fetchone()[0]
        server = ", ".join(f"{name} {conn.execute(f'SHOW {name}').fetchone()[0]}"
                           for name in ("shared_buffers", "max_wal_size", "autovacuum"))
    if loaded != args.rows or replies:
        log(f"ERROR: {loaded} tickets loaded of {args.rows}, {replies} replies")
        return 1
    cores = os.cpu_count()

    def n(v: int) -> str:
        return f"{v:,}".replace(",", "\u00a0")

    text = (f"{datetime.now():%d.%m.%Y}, {cores} ядра, PostgreSQL на 127.0.0.1, база `om_bench_import` "
            f"(создаётся заново), `python bench/import_bench.py --rows {args.rows} --batch {args.batch}`.\n\n"
            f"| Прогон | Строк | Время, с | Итог |\n|---|---:|---:|---|\n"
            f"| первый (всё новое) | {n(args.rows)} | {first:.1f} | {out1.strip().splitlines()[-1]} |\n"
            f"| повторный (ничего нового) | {n(args.rows)} | {second:.1f} | {out2.strip().splitlines()[-1]} |\n\n"
            f"Время — весь процесс `flask tickets import` (запуск приложения, чтение и проверка CSV, "
            f"{-(-args.rows // args.batch)} транзакций по {args.batch} строк: номера блоком из счётчика года, "
            f"обращения и события — COPY). Записано обращений: {n(loaded)}, событий: {n(events)}, "
            f"ответов жителям: {replies}, сообщений — по одному на обращение. Сервер: {server}; последние "
            f"партии медленнее первых (индексы трёх таблиц, в том числе триграммные GIN по тексту и адресу, "
            f"перестают помещаться в shared_buffers). Цель issue 15: ≤ 60 с на 100\u00a0000 строк.")
    print(text)
    if not args.no_write:
        write_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
