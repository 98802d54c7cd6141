"""`flask accounts import-history FILE.csv`: past figures loaded per day (source "import"), good and bad files."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Account, AccountSnapshot
from app.services.accounts import history
from app.services.accounts.collection import upsert_snapshot
from tests.factories import make_institution


@pytest.fixture
def accs():
    inst = make_institution()
    tg = Account(institution=inst, network="telegram", handle="school_3", external_id="-1001", url="https://t.me/school_3")
    vk = Account(institution=inst, network="vk", handle="school3", external_id="123", url="https://vk.com/school3")
    ok = Account(institution=inst, network="ok", handle="dk", external_id="70000001", url="https://ok.ru/dk")
    db.session.add_all([tg, vk, ok])
    db.session.flush()
    return tg, vk, ok


def rows(acc) -> list[tuple]:
    return [(s.taken_on, s.followers, s.posts, s.source) for s in db.session.scalars(
        select(AccountSnapshot).where(AccountSnapshot.account_id == acc.id).order_by(AccountSnapshot.taken_on))]


def run(app, tmp_path, text: str, *args, encoding="utf-8"):
    path = tmp_path / "history.csv"
    path.write_bytes(text.encode(encoding))
    db.session.commit()
    return app.test_cli_runner().invoke(args=["accounts", "import-history", str(path), *args])


def test_a_good_file_with_bom_semicolons_and_both_date_forms(app, tmp_path, accs):
    tg, vk, ok = accs
    upsert_snapshot(vk.id, date(2025, 1, 2), 10, 1, None)  # a day the account has: updated
    text = ("\ufeffДата;Адрес аккаунта;Подписчики;Публикации\n"
            "01.01.2025;@school_3;1 200;40\n"
            "2025-01-02;https://vk.com/school3;3\u00a0400;150\n"
            "02.01.2025;https://t.me/school_3/;1210;41\n"
            "03.01.2025;https://ok.ru/group/70000001;800;12\n")
    result = run(app, tmp_path, text)
    assert result.exit_code == 0, result.output
    assert "Загружено строк: 4 (аккаунтов: 3)" in result.output
    assert rows(tg) == [(date(2025, 1, 1), 1200, 40, "import"), (date(2025, 1, 2), 1210, 41, "import")]
    assert rows(vk) == [(date(2025, 1, 2), 3400, 150, "import")]
    assert rows(ok) == [(date(2025, 1, 3), 800, 12, "import")]
    db.session.refresh(tg)
    assert (tg.followers, tg.posts) == (1210, 41)  # never collected: shows its latest imported figures


def test_commas_without_a_header(app, tmp_path, accs):
    tg, _, _ = accs
    assert run(app, tmp_path, "2024-05-01,@school_3,500,9\n").exit_code == 0
    assert rows(tg) == [(date(2024, 5, 1), 500, 9, "import")]


def test_a_bad_file_imports_nothing_and_names_every_bad_line(app, tmp_path, accs):
    tg, _, _ = accs
    text = ("дата;адрес;подписчики;публикации\n"
            "01.01.2025;@school_3;1200;40\n"
            "31.02.2025;@school_3;1200;40\n"
            "02.01.2025;@nobody_here;1200;40\n"
            "03.01.2025;@school_3;много;40\n"
            "04.01.2025;@school_3\n"
            "01.01.2099;@school_3;1;1\n")
    result = run(app, tmp_path, text)
    assert result.exit_code != 0 and "Файл не загружен: ошибок 5" in result.output
    for line in ("строка 3", "строка 4", "строка 5", "строка 6", "строка 7"):
        assert line in result.output
    assert "@nobody_here" in result.output and "«много»" in result.output
    assert rows(tg) == []
    result = run(app, tmp_path, text, "--skip-bad")
    assert result.exit_code == 0 and "пропущено строк с ошибками: 5" in result.output
    assert rows(tg) == [(date(2025, 1, 1), 1200, 40, "import")]


def test_not_utf8(app, tmp_path, accs):
    result = run(app, tmp_path, "01.01.2025;@school_3;1;1\nдата", encoding="cp1251")
    assert result.exit_code != 0 and "UTF-8" in result.output


def test_the_service_reports_without_writing(accs):
    report = history.import_history(b"01.01.2025;https://example.org/x;1;1\n", today=date(2026, 1, 1))
    assert not report.ok and report.errors[0][0] == 1 and report.written == 0
