"""`flask tickets import`: a city's history from CSV and XLSX — mapping, HTML stripped, names matched, unknown
names refused or created, the dry run, idempotency, nothing sent, the board and the open statistics (by dates,
never in SLA compliance, the setting), junk files with a clear message and no traceback."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    BoardSnapshot,
    Category,
    Delivery,
    Institution,
    Message,
    Notification,
    Reply,
    SlaMark,
    Ticket,
    TicketCounter,
    TicketEvent,
)
from app.services import board, openstats, settings, ticket_import
from app.services.board import Scope
from tests.factories import make_category, make_direction, make_institution, make_ticket

TZ = ZoneInfo("Asia/Yakutsk")
HEADER = "external_id;text;category;institution;created_at;address;answer"


@pytest.fixture
def city():
    d = make_direction("Органы власти")
    d.code = "government"
    zhkh = make_institution(d, "МКУ «Управление ЖКХ»")
    zhkh.short_name = "Управление ЖКХ"
    roads = make_category("Дороги и ямы", zhkh)
    light = make_category("Уличное освещение", zhkh)
    light.code = "lighting"
    db.session.flush()
    return {"direction": d, "zhkh": zhkh, "roads": roads, "light": light}


def run(app, *args):
    return app.test_cli_runner().invoke(args=["tickets", "import", *[str(a) for a in args]])


def imported():
    return db.session.scalars(select(Ticket).where(Ticket.imported.is_(True)).order_by(Ticket.created_at)).all()


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def write_csv(tmp_path, lines, name="history.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return p


GOOD = [
    HEADER,
    'A-1;"<p>Яма на дороге</p><br>у дома&nbsp;5 &laquo;большая&raquo;";Дороги  и ямы;мку управление жкх;'
    '05.03.2024 10:30;ул. Ленина, 5;<b>Отремонтировано</b> 07.03',
    "A-2;Не горит фонарь;lighting;Управление ЖКХ;2024-04-01T08:00:00;;",
    "A-3;Темно во дворе;уличное освещение;;01.04.2024;ул. Мира,  3;",
]


def test_csv_loads_closed_history_with_html_stripped_and_names_matched(app, city, tmp_path):
    res = run(app, write_csv(tmp_path, GOOD))
    assert res.exit_code == 0, res.output
    assert "Загружено: 3; пропущено (уже были): 0; ошибочных строк: 0" in res.output
    rows = imported()
    assert len(rows) == 3
    first = rows[0]
    assert first.summary == "Яма на дороге\nу дома 5 «большая»"
    assert first.category_id == city["roads"].id and first.institution_id == city["zhkh"].id
    assert first.status == "closed" and first.network == "import"
    # 10:30 in the city (UTC+9) is 01:30 UTC
    assert first.created_at == datetime(2024, 3, 5, 1, 30, tzinfo=timezone.utc)
    assert first.resolved_at == first.closed_at == first.created_at
    assert first.address == "ул. Ленина, 5"
    assert first.first_response_due_at is None and first.ack_due_at is None
    closing = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == first.id,
                                                          TicketEvent.kind == "status"))
    assert closing.payload["comment"] == "Отремонтировано 07.03" and closing.payload["to"] == "closed"
    # a rubric by its code, an institution by its short name, an empty institution: the rubric's default
    assert rows[2].category_id == city["light"].id and rows[2].institution_id == city["zhkh"].id
    assert rows[1].address == "ул. Мира, 3"
    # numbers from the year's counter, unique
    assert {t.number[:-7] for t in rows} == {"БЛГ-2024"}
    assert len({t.number for t in rows}) == 3
    assert db.session.get(TicketCounter, 2024).last >= 3


def test_nothing_is_sent_or_marked(app, city, tmp_path, monkeypatch):
    calls = []
    import app.jobs as jobs

    monkeypatch.setattr(jobs, "enqueue", lambda *a, **k: calls.append(a))
    before = {m: count(m) for m in (Reply, Notification, SlaMark, Delivery)}
    assert run(app, write_csv(tmp_path, GOOD)).exit_code == 0
    assert {m: count(m) for m in (Reply, Notification, SlaMark, Delivery)} == before
    assert calls == []
    kinds = {k for (k,) in db.session.execute(select(TicketEvent.kind).join(Ticket).where(Ticket.imported))}
    assert kinds == {"created", "status"}
    # the text as the ticket's message, already triaged (intake never picks it up)
    msgs = db.session.scalars(select(Message).where(Message.network == "import")).all()
    assert len(msgs) == 3 and all(m.triaged_at is not None and m.ticket_id for m in msgs)
    assert {m.text for m in msgs} == {t.summary for t in imported()}


def test_xlsx_with_a_mapping_and_excel_dates(app, city, tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.append(["Номер", "Текст обращения", "Рубрика", "Исполнитель", "Дата", "Ответ"])
    ws.append([101, "Яма <br/> на дороге", "ДОРОГИ И ЯМЫ", "МКУ Управление ЖКХ", datetime(2023, 12, 31, 23, 0),
               "Сделано"])
    ws.append([102, "Опять яма", "дороги и ямы", None, 45292.5, None])  # 01.01.2024 12:00
    p = tmp_path / "history.xlsx"
    wb.save(p)
    res = run(app, p, "--map", "external_id=Номер,text=Текст обращения,category=Рубрика,institution=Исполнитель,"
                               "created_at=Дата,answer=Ответ")
    assert res.exit_code == 0, res.output
    rows = imported()
    assert [t.summary for t in rows] == ["Яма\nна дороге", "Опять яма"]
    assert rows[0].created_at == datetime(2023, 12, 31, 14, 0, tzinfo=timezone.utc)
    assert rows[0].number.startswith("БЛГ-2023-")
    assert rows[1].created_at == datetime(2024, 1, 1, 12, 0, tzinfo=TZ)
    assert rows[1].number.startswith("БЛГ-2024-")


def test_unknown_names_are_listed_and_nothing_loaded(app, city, tmp_path):
    lines = [HEADER, "1;Текст;Дороги и ямы;Горводоканал;01.02.2024;;", "2;Текст 2;Снег;Горводоканал;02.02.2024;;",
             "3;Текст 3;Снег;;03.02.2024;;"]
    res = run(app, write_csv(tmp_path, lines))
    assert res.exit_code != 0
    assert "Неизвестные рубрики:" in res.output and "Снег: 2" in res.output
    assert "Неизвестные учреждения:" in res.output and "Горводоканал: 2" in res.output
    assert "ничего не загружено" in res.output
    assert imported() == []
    assert "Traceback" not in res.output


def test_create_missing_creates_rubrics_and_institutions(app, city, tmp_path):
    lines = [HEADER, "1;Текст;Дороги и ямы;Горводоканал;01.02.2024;;", "2;Текст 2;Снег;горводоканал;02.02.2024;;"]
    res = run(app, write_csv(tmp_path, lines), "--create-missing")
    assert res.exit_code == 0, res.output
    assert "Создано рубрик: 1" in res.output and "Создано учреждений: 1" in res.output
    snow = db.session.scalar(select(Category).where(Category.name == "Снег"))
    water = db.session.scalar(select(Institution).where(Institution.name == "Горводоканал"))
    assert snow is not None and snow.sla_policy_id is not None
    assert water is not None and water.direction_id == city["direction"].id
    assert [(t.category_id, t.institution_id) for t in imported()] == [(city["roads"].id, water.id),
                                                                        (snow.id, water.id)]


def test_create_missing_in_a_named_direction(app, city, tmp_path):
    other = make_direction("Культура")
    lines = [HEADER, "1;Текст;Дороги и ямы;Дом культуры;01.02.2024;;"]
    assert run(app, write_csv(tmp_path, lines), "--create-missing", "--direction", other.code).exit_code == 0
    assert db.session.scalar(select(Institution).where(Institution.name == "Дом культуры")).direction_id == other.id
    bad = run(app, write_csv(tmp_path, [HEADER, "2;Т;Дороги и ямы;Новое;01.02.2024;;"], "b.csv"),
              "--create-missing", "--direction", "нет-такого")
    assert bad.exit_code != 0 and "Направление «нет-такого» не найдено" in bad.output
    assert db.session.scalar(select(Institution).where(Institution.name == "Новое")) is None


def test_dry_run_writes_nothing_and_reports_every_bad_row(app, city, tmp_path):
    lines = [HEADER,
             "1;Нормальная строка;Дороги и ямы;;01.02.2024 09:15;;",
             "2;<p> </p>;Дороги и ямы;;01.02.2024;;",
             "3;Дата кривая;Дороги и ямы;;31.02.2024;;",
             '4;"Многострочный',
             'текст";Дороги и ямы;;вчера;;',
             "5;Из будущего;Дороги и ямы;;01.01.2099;;",
             "6;Без даты;Дороги и ямы;;;;",
             "7;Снег;Снег;;01.02.2024;;"]
    p = write_csv(tmp_path, lines)
    tickets_before, counter_before = count(Ticket), count(TicketCounter)
    res = run(app, p, "--dry-run")
    assert res.exit_code == 0, res.output
    assert "строка 3: пустой текст обращения" in res.output
    assert "строка 4: created_at: дата «31.02.2024» не распознана" in res.output
    assert "строка 5: created_at: дата «вчера» не распознана" in res.output  # the record's first line
    assert "строка 7: created_at: дата в будущем" in res.output
    assert "строка 8: created_at: нет даты" in res.output
    assert "Строк к загрузке: 2" in res.output and "Неизвестные рубрики:" in res.output and "Снег: 1" in res.output
    assert "Дороги и ямы: 1" in res.output
    assert "По рубрикам:" in res.output
    assert "ничего не записано" in res.output
    assert (count(Ticket), count(TicketCounter)) == (tickets_before, counter_before)
    # with --create-missing too: the new names are listed, nothing is created
    res = run(app, p, "--dry-run", "--create-missing")
    assert res.exit_code == 0 and "Новые рубрики:" in res.output
    assert db.session.scalar(select(Category).where(Category.name == "Снег")) is None
    assert count(Ticket) == tickets_before


def test_bad_rows_are_skipped_and_listed_in_a_real_run(app, city, tmp_path):
    lines = [HEADER, "1;Хорошая;Дороги и ямы;;01.02.2024;;", "2;Плохая дата;Дороги и ямы;;32.13.2024;;"]
    res = run(app, write_csv(tmp_path, lines))
    assert res.exit_code == 0
    assert "строка 3: created_at" in res.output
    assert "Загружено: 1; пропущено (уже были): 0; ошибочных строк: 1" in res.output


def test_rerun_loads_nothing_new(app, city, tmp_path):
    p = write_csv(tmp_path, GOOD)
    assert run(app, p).exit_code == 0
    again = run(app, p)
    assert again.exit_code == 0
    assert "Нового нет: загружено 0, уже были 3" in again.output
    assert len(imported()) == 3
    # without external ids: the hash of the row; a changed row is new, a repeated row in the file is one
    lines = ["text;created_at", "Яма;01.02.2024", "Яма;01.02.2024", "Яма;02.02.2024"]
    q = write_csv(tmp_path, lines, "noid.csv")
    first = run(app, q)
    assert "Загружено: 2; пропущено (уже были): 1" in first.output
    assert "Нового нет" in run(app, q).output
    assert len(imported()) == 5
    # a small batch: several transactions, the same result
    r = write_csv(tmp_path, ["text;created_at"] + [f"Обращение {i};0{1 + i % 9}.03.2024" for i in range(7)], "b.csv")
    res = run(app, r, "--batch", "2")
    assert "Загружено: 7" in res.output
    assert len(imported()) == 12


def _window():
    tz = board.city_tz()
    return datetime(2024, 3, 1, tzinfo=tz), datetime(2024, 4, 1, tzinfo=tz)


def test_board_counts_imported_by_date_never_in_sla_compliance(app, city, tmp_path):
    start, end = _window()
    live = make_ticket(category=city["roads"], institution=city["zhkh"], created_at=start + timedelta(days=2))
    live.status, live.resolved_at = "resolved", start + timedelta(days=2, hours=1)
    live.resolution_due_at = start + timedelta(days=2, minutes=30)  # late
    db.session.flush()
    lines = [HEADER] + [f"{i};Яма {i};Дороги и ямы;;0{i}.03.2024 10:00;;" for i in range(1, 5)]
    assert run(app, write_csv(tmp_path, lines)).exit_code == 0
    everyone = board._Everyone()
    f = board.aggregate(everyone, start, end)[None]
    assert f.received == 5 and f.resolved == 5  # by their dates
    assert f.on_time == 0 and f.sla_base == 1 and f.sla_share == 0.0  # the one live ticket, late
    total, by_inst, _ = board.aggregate_sets(everyone, start, end)
    assert total.received == 5 and total.sla_share == 0.0 and by_inst[city["zhkh"].id].sla_share == 0.0
    stats = openstats.monthly(datetime(2024, 3, 31).date(), Scope(), datetime.now(timezone.utc))
    march = next(m for m in stats if m["month"] == "2024-03")
    assert march["received"] == 5 and march["resolved"] == 5 and march["sla_share"] == 0.0


def test_setting_excludes_imported_from_board_and_open_stats(app, city, tmp_path):
    start, end = _window()
    make_ticket(category=city["roads"], created_at=start + timedelta(days=3))
    lines = [HEADER] + [f"{i};Яма {i};Дороги и ямы;;0{i}.03.2024 10:00;;" for i in range(1, 4)]
    assert run(app, write_csv(tmp_path, lines)).exit_code == 0
    everyone = board._Everyone()
    assert board.aggregate(everyone, start, end)[None].received == 4
    db.session.add(BoardSnapshot(key="x", data={}, computed_at=datetime.now(timezone.utc)))
    db.session.flush()
    res = app.test_cli_runner().invoke(args=["tickets", "imported-in-stats", "off"])
    assert res.exit_code == 0 and "нет" in res.output
    assert settings.get("imported_in_stats") is False
    assert count(BoardSnapshot) == 0  # kept figures dropped: the next view follows the setting
    assert board.aggregate(everyone, start, end)[None].received == 1
    rubric = {c["id"]: c for c in openstats.by_category(board.Period("custom", start.date(), (end - timedelta(days=1))
                                                                      .date()), Scope(), datetime.now(timezone.utc))}
    assert rubric[city["roads"].id]["received"] == 1
    ticket_import.set_imported_in_stats(None, True)
    assert board.aggregate(everyone, start, end)[None].received == 4


def test_workspace_compliance_leaves_imported_out(app, city, tmp_path):
    from app.services import workspace

    now = datetime.now(timezone.utc)
    local = now.astimezone(TZ)
    lines = ["text;institution;created_at", f"Яма;Управление ЖКХ;{local:%d.%m.%Y} 00:00"]
    assert run(app, write_csv(tmp_path, lines)).exit_code == 0
    assert workspace.summary(city["zhkh"].id, now)["resolved"] == 0


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "пуст"),
    (lambda p: p.write_bytes(b"\x00\x01\x02binary\x00" * 20), "двоичный"),
    (lambda p: p.write_bytes("текст;дата\nЯма;01.02.2024\n".encode()), "В файле нет столбцов: text"),
    (lambda p: p.write_bytes(b"\xff\xfe\x00\x00garbage\xc3\x28"), "двоичный"),
    (lambda p: p.write_bytes(b"\x81\x8d\x8f\x90\x98" * 10 + b"\n"), "не в UTF-8"),
])
def test_junk_files_give_a_clear_error(app, city, tmp_path, make, message):
    p = tmp_path / "junk.csv"
    make(p)
    res = run(app, p)
    assert res.exit_code != 0
    assert message in res.output, res.output
    assert "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_junk_xlsx_missing_file_and_bad_map(app, city, tmp_path):
    fake = tmp_path / "fake.xlsx"
    fake.write_text("не таблица")
    for args, message in (([fake], "не читается как XLSX"), ([tmp_path / "нет.csv"], "не найден"),
                          ([write_csv(tmp_path, GOOD), "--map", "text"], "Неверное сопоставление"),
                          ([write_csv(tmp_path, GOOD), "--map", "color=Цвет"], "Неизвестное поле"),
                          ([write_csv(tmp_path, GOOD), "--map", "address=Адрес"], "address → «Адрес»"),
                          ([tmp_path / "x.pdf"], "")):
        if str(args[0]).endswith(".pdf"):
            args[0].write_bytes(b"%PDF-1.4")
            message = "поддерживаются CSV и XLSX"
        res = run(app, *args)
        assert res.exit_code != 0, args
        assert message in res.output, res.output
        assert "Traceback" not in res.output
    assert imported() == []


def test_cp1251_is_detected_and_read(app, city, tmp_path):
    p = write_csv(tmp_path, [HEADER, "1;Яма на дороге;Дороги и ямы;;01.02.2024;;"], encoding="cp1251")
    res = run(app, p)
    assert res.exit_code == 0, res.output
    assert "Windows-1251" in res.output
    assert imported()[0].summary == "Яма на дороге"
    bad = run(app, p, "--encoding", "utf-8")
    assert bad.exit_code != 0 and "не в кодировке utf-8" in bad.output


def test_command_is_listed(app):
    res = app.test_cli_runner().invoke(args=["--help"])
    assert "tickets" in res.output
    sub = app.test_cli_runner().invoke(args=["tickets", "--help"])
    assert "import" in sub.output


def test_clean_text_and_dates():
    assert ticket_import.clean_text("<div>Раз</div><div>Два&amp;три</div><script>x()</script>") == "Раз\nДва&три"
    assert ticket_import.clean_text("  много   пробелов \r\n\r\n\r\n строка ") == "много пробелов\nстрока"
    assert ticket_import.name_key("  МКУ  «Управление  ЖКХ» ") == ticket_import.name_key("мку управление жкх")
    assert ticket_import.name_key("Ёлки") == ticket_import.name_key("елки")
    when = ticket_import.parse_when("2024-03-05T10:00:00+03:00", TZ)
    assert when == datetime(2024, 3, 5, 7, 0, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        ticket_import.parse_when("1.1.1800", TZ)


def test_imported_ticket_page_shows_the_text_and_the_answer(app, city, tmp_path, login):
    from tests.factories import make_user
    from tests.helpers import body

    assert run(app, write_csv(tmp_path, GOOD)).exit_code == 0
    t = imported()[0]
    client = login(make_user("moderator"))
    page = body(client.get(f"/tickets/{t.number}"))
    assert "Яма на дороге" in page and "Отремонтировано 07.03" in page and "Импорт истории" in page
    queue = client.get("/queue?network=import&status=closed")
    assert queue.status_code == 200


@pytest.mark.parametrize("when", ["01.01.0001", "0001-01-01T00:00:00", "0001-01-01T00:00:00+00:00", "01.01.1000"])
def test_a_date_in_year_one_is_a_bad_row_not_a_traceback(app, city, tmp_path, when):
    res = run(app, write_csv(tmp_path, [HEADER, f"Y-1;Яма;;;{when};;", "Y-2;Яма;;;05.03.2024;;"]))
    assert res.exit_code == 0, res.output
    assert "строка 2: created_at" in res.output
    assert "Загружено: 1;" in res.output


def test_a_nul_byte_past_the_binary_check_is_dropped(app, city, tmp_path):
    lines = [HEADER] + [f"N-{i};Текст {'x' * 100};;;05.03.2024;;" for i in range(700)] + ["N-X;Я\x00ма;;;05.03.2024;;"]
    res = run(app, write_csv(tmp_path, lines))
    assert res.exit_code == 0, res.output
    assert "Загружено: 701;" in res.output
    assert db.session.scalar(select(Ticket.summary).where(Ticket.summary == "Яма")) == "Яма"


@pytest.mark.parametrize("column, value", [("category", "Р" * 201), ("institution", "У" * 301)])
def test_a_name_longer_than_its_column_is_a_bad_row_and_a_rerun_creates_nothing(app, city, tmp_path, column, value):
    row = {"category": "", "institution": ""} | {column: value}
    lines = [HEADER, f"Z-1;Яма;{row['category']};{row['institution']};05.03.2024;;",
             f"Z-2;Яма 2;{row['category'] + 'б' if row['category'] else ''};"
             f"{row['institution'] + 'б' if row['institution'] else ''};05.03.2024;;",
             "Z-3;Фонарь;;;05.03.2024;;"]
    before = (count(Category), count(Institution))
    for _ in range(2):
        res = run(app, write_csv(tmp_path, lines), "--create-missing")
        assert res.exit_code == 0, res.output
        assert f"строка 2: {column}: название длиннее" in res.output
        assert f"строка 3: {column}: название длиннее" in res.output
    assert (count(Category), count(Institution)) == before
    assert len(imported()) == 1
