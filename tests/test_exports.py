"""XLSX exports: the queue and /my with the page's filters, masking by role, the row cap, the download header."""
import io
import re
from datetime import timedelta
from urllib.parse import quote

from openpyxl import load_workbook

from app.extensions import db
from app.services import access, exports, queue
from app.services.queue import QueueFilters
from tests.factories import make_category, make_institution, make_ticket, make_user

PHONE = "+7 914 123-45-67"


def open_book(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == exports.XLSX_MIME
    return load_workbook(io.BytesIO(resp.data))


def data_rows(wb, title="Обращения"):
    rows = list(wb[title].iter_rows(values_only=True))
    return rows[0], rows[1:]


def params(wb) -> str:
    return "\n".join(" | ".join(str(v) for v in r if v is not None)
                     for r in wb["Параметры"].iter_rows(values_only=True))


def with_contact(t, name="Иван Петров", phone=PHONE, email="ivan@mail.ru"):
    t.resident.display_name, t.resident.phone, t.resident.email = name, phone, email
    db.session.flush()
    return t


# --- masking ---------------------------------------------------------------------------------------------------
def test_mask_functions():
    assert exports.mask_name("Иван Петров") == "Иван П."
    assert exports.mask_name("Анна") == "Анна"
    assert exports.mask_name("") == ""
    assert exports.mask_phone("+7 914 123-45-67") == "+7 914 ***-**-67"
    assert exports.mask_phone("89141234567") == "8914*****67"
    assert exports.mask_email("ivan@mail.ru") == "i***@mail.ru"
    text = "Звоните 8 (914) 123-45-67 или пишите ivan.p@mail.ru; заявка БЛГ-2026-000123 от 12.03.2026, дом 12"
    masked = exports.mask_text(text)
    assert "123-45" not in masked and "ivan.p@" not in masked
    assert "8 (914) ***-**-67" in masked and "i***@mail.ru" in masked
    assert "БЛГ-2026-000123" in masked and "12.03.2026" in masked and "дом 12" in masked  # not phones
    assert exports.resident_cell("Иван Петров", PHONE, "ivan@mail.ru", masked=True) == \
        "Иван П., +7 914 ***-**-67, i***@mail.ru"
    assert exports.resident_cell("Иван Петров", PHONE, None, masked=False) == "Иван Петров, +7 914 123-45-67"


def test_who_sees_personal_data():
    allowed = {role: access.can_see_personal_data(make_user(role))
               for role in ("admin", "moderator", "head", "analyst", "executor")}
    assert allowed == {"admin": True, "moderator": True, "head": False, "analyst": False, "executor": False}
    assert access.can_see_personal_data(None) is False


# --- the writer --------------------------------------------------------------------------------------------------
def test_workbook_kinds_header_params_and_cut(app):
    from app.models import utcnow

    now = utcnow().replace(microsecond=0)
    sheet = exports.Sheet("Очередь: [все]/обращения за неделю и ещё длинное", ["Номер", "Когда", "Доля", "Время",
                                                                              "Число"],
                          ((f"№{i}", now, 87.5, timedelta(hours=30), i) for i in range(10)),
                          ["text", "datetime", "percent", "duration", "int"])
    injected = exports.Sheet("Текст", ["Суть"], [["=HYPERLINK(\"http://evil\")"], ["ok\x07"]])
    data = exports.workbook([sheet, injected],
                            exports.About("Проверка", by="Тест", filters=[("Статус", "Открытые")]), max_rows=4)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames[0] == "Параметры"
    title = wb.sheetnames[1]
    assert len(title) <= 31 and not re.search(r"[\[\]:*?/\\]", title)
    ws = wb[title]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:E5"
    assert ws["A1"].font.b and ws["A1"].value == "Номер"
    assert ws.max_row == 5  # header + 4: cut
    local = exports.to_city_naive(now)
    assert ws["B2"].value == local and ws["B2"].number_format == exports.DATETIME_FORMAT
    assert ws["C2"].value == 0.875 and "%" in ws["C2"].number_format
    assert ws["D2"].value == timedelta(hours=30) and ws["E3"].value == 1
    assert wb["Текст"]["A2"].data_type == "s" and wb["Текст"]["A2"].value.startswith("=HYPERLINK")
    assert wb["Текст"]["A3"].value == "ok"
    text = params(wb)
    assert "Проверка" in text and "Тест" in text and "Статус: Открытые" in text and "Asia/Yakutsk" in text
    assert "обрезан" in text and "4" in text
    assert sheet.cut and sheet.written == 4 and not injected.cut


def test_content_disposition_russian_name(app):
    with app.test_request_context():
        resp = exports.xlsx_response(b"x", "Очередь обращений 2026-11-23.xlsx")
    cd = resp.headers["Content-Disposition"]
    assert cd.startswith("attachment; ")
    assert 'filename="Ochered_obrashchenii_2026-11-23.xlsx"' in cd
    assert "filename*=UTF-8''" + quote("Очередь обращений 2026-11-23.xlsx", safe="") in cd
    assert resp.headers["Cache-Control"] == "no-store"


# --- the queue export ------------------------------------------------------------------------------------------
def test_queue_export_matches_the_queue_service(login):
    inst, other = make_institution(), make_institution()
    cat = make_category("Уличное освещение")
    made = [make_ticket(f"Фонарь {i}", institution=inst, category=cat, network="telegram",
                        address=f"ул. Ленина, {i}") for i in range(5)]
    make_ticket("Яма на Партизанской", institution=other, network="vk")
    make_ticket("Закрытое", institution=inst, status="closed")
    mod = make_user("moderator")
    client = login(mod)
    resp = client.get(f"/queue/export.xlsx?institution={inst.id}&sort=old")
    header, rows = data_rows(open_book(resp))
    assert header[:3] == ("Номер", "Поступило", "Статус") and len(header) == 15
    expected = queue.page(mod, QueueFilters(statuses=["new", "assigned", "in_progress", "waiting_resident"],
                                            institution_id=inst.id, sort="old"), limit=1000).rows
    assert [r[0] for r in rows] == [t.number for t in expected] == [t.number for t in made]
    first = rows[0]
    assert first[5] == inst.short_name and first[6] == "Уличное освещение" and first[7] == "Telegram"
    assert first[9] == "ул. Ленина, 0" and first[12] in ("да", "нет")
    assert first[1] == exports.to_city_naive(made[0].created_at.replace(microsecond=0)) or \
        abs((first[1] - exports.to_city_naive(made[0].created_at)).total_seconds()) < 1
    text = params(open_book(resp))
    assert "Очередь обращений" in text and mod.display_name in text and inst.short_name in text
    assert "Сначала старые" in text


def test_filters_are_honoured(login):
    inst = make_institution()
    lamp = make_ticket("Не горит фонарь на Кирова", institution=inst, network="telegram")
    pit = make_ticket("Яма на Партизанской", network="vk")
    done = make_ticket("Закрытое обращение", status="closed")
    client = login(make_user("analyst"))
    cases = {
        "network=vk": {pit.number},
        "q=фонарь": {lamp.number},
        f"institution={inst.id}": {lamp.number},
        "status=closed": {done.number},
        "status=all": {lamp.number, pit.number, done.number},
        "": {lamp.number, pit.number},
    }
    for args, expected in cases.items():
        _, rows = data_rows(open_book(client.get("/queue/export.xlsx?" + args)))
        assert {r[0] for r in rows} == expected, args


def test_keyset_batches_cover_every_ticket_once(app, login):
    from app.models import utcnow

    made = [make_ticket(f"Обращение {i}", created_at=utcnow() - timedelta(minutes=i)) for i in range(7)]
    mod = make_user("moderator")
    login(mod)
    got = list(queue.scan(mod, QueueFilters(sort="new"), [queue.Ticket.number], batch=3))
    assert [n for (n,) in got] == [t.number for t in made]


def test_masking_by_role_including_the_summary(login):
    t = with_contact(make_ticket(f"Нет воды. Мой телефон {PHONE}, почта ivan@mail.ru"))
    for role, masked in (("moderator", False), ("admin", False), ("head", True), ("analyst", True)):
        client = login(make_user(role))
        _, rows = data_rows(open_book(client.get("/queue/export.xlsx")))
        row = next(r for r in rows if r[0] == t.number)
        if masked:
            assert row[8] == "Иван П., +7 914 ***-**-67, i***@mail.ru", role
            assert "123-45" not in row[10] and "ivan@" not in row[10] and "+7 914 ***-**-67" in row[10], role
        else:
            assert row[8] == "Иван Петров, +7 914 123-45-67, ivan@mail.ru", role
            assert PHONE in row[10] and "ivan@mail.ru" in row[10], role


def test_executor_exports_only_their_institution_masked(login):
    mine, theirs = make_institution(), make_institution()
    a = with_contact(make_ticket(f"Течёт крыша, звоните {PHONE}", institution=mine))
    b = make_ticket("Чужое обращение", institution=theirs)
    executor = make_user("executor", institution=mine)
    client = login(executor)
    for url in ("/my/export.xlsx", f"/my/export.xlsx?institution={theirs.id}&status=all"):
        _, rows = data_rows(open_book(client.get(url)))
        numbers = {r[0] for r in rows}
        assert b.number not in numbers, url
    _, rows = data_rows(open_book(client.get("/my/export.xlsx")))
    assert [r[0] for r in rows] == [a.number]
    assert rows[0][8].startswith("Иван П.") and "123-45" not in rows[0][10]
    assert client.get("/queue/export.xlsx").status_code == 403  # the queue is not theirs
    resp = login(make_user("moderator")).get("/my/export.xlsx")
    assert resp.status_code == 403


def test_cut_at_export_max_rows_is_stated(app, login):
    for i in range(5):
        make_ticket(f"Обращение {i}")
    client = login(make_user("moderator"))
    app.config["EXPORT_MAX_ROWS"] = 3
    try:
        wb = open_book(client.get("/queue/export.xlsx"))
    finally:
        app.config["EXPORT_MAX_ROWS"] = 100_000
    _, rows = data_rows(wb)
    assert len(rows) == 3
    assert "обрезан" in params(wb) and "EXPORT_MAX_ROWS" in params(wb)


def test_download_header_and_the_link_keeps_the_filters(login):
    inst = make_institution()
    make_ticket(institution=inst)
    client = login(make_user("moderator"))
    resp = client.get("/queue/export.xlsx")
    cd = resp.headers["Content-Disposition"]
    assert cd.startswith('attachment; filename="Ochered_obrashchenii_') and cd.endswith(".xlsx")
    assert "filename*=UTF-8''" + quote("Очередь обращений", safe="") in cd
    page = client.get(f"/queue?institution={inst.id}&q=фонарь").get_data(as_text=True)
    link = re.search(r'id="export-xlsx" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert link.startswith("/queue/export.xlsx?") and f"institution={inst.id}" in link and "q=" in link
    fragment = client.get("/queue?network=vk", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert re.search(r'id="export-xlsx" href="/queue/export.xlsx\?network=vk"', fragment)  # swapped with the list


def test_bad_filters_get_a_clear_message_not_500(login):
    make_ticket()
    client = login(make_user("moderator"))
    for url in ("/queue/export.xlsx?status=nonsense", "/queue/export.xlsx?institution=abc",
                "/queue/export.xlsx?institution=999999", "/queue/export.xlsx?sort=drop+table",
                "/queue/export.xlsx?q=" + "я" * 500):
        resp = client.get(url)
        assert resp.status_code == 422, url
        text = resp.get_data(as_text=True)
        assert "Выгрузка не сформирована" in text and "Исправьте условия отбора" in text, url
    assert "Учреждение" in client.get("/queue/export.xlsx?institution=abc").get_data(as_text=True)
    # a stale cursor in the URL is not an error: the export always starts from the beginning
    assert client.get("/queue/export.xlsx?cursor=%%%garbage").status_code == 200
