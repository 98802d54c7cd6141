"""`flask tickets import`: a city's past appeals from CSV or XLSX (app/services/ticket_import.py does the work);
`flask tickets imported-in-stats`: whether that history counts on the board and in the open statistics."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.services import ticket_import
from app.services.board.figures import imported_in_stats
from app.services.ticket_import import ImportProblem

tickets_cli = AppGroup("tickets", help="Обращения: загрузка истории города.")

SHOWN_BAD = 50  # a real run lists this many bad rows (a dry run lists every one)


def _counts(title: str, counter, limit: int = 30) -> None:
    if not counter:
        return
    click.echo(title)
    for name, n in counter.most_common(limit):
        click.echo(f"  {name}: {n}")
    if len(counter) > limit:
        click.echo(f"  … и ещё {len(counter) - limit}")


def _bad(p, limit: int | None) -> None:
    if not p.bad:
        return
    click.echo(f"Ошибочных строк: {len(p.bad)}")
    for line, why in p.bad[:limit]:
        click.echo(f"  строка {line}: {why}")
    if limit is not None and len(p.bad) > limit:
        click.echo(f"  … и ещё {len(p.bad) - limit} (все — в --dry-run)")


@tickets_cli.command("import")
@click.argument("path", metavar="FILE.csv|FILE.xlsx")
@click.option("--map", "spec", default="", help="Столбцы файла: text=…,category=…,institution=…,created_at=…,"
                                               "address=…,answer=…,answered_at=…,external_id=… "
                                               "(по умолчанию — те же имена).")
@click.option("--create-missing", is_flag=True, help="Создать неизвестные рубрики и учреждения.")
@click.option("--direction", default=None, help="Направление новых учреждений (код, название или id; по "
                                                "умолчанию — направление администрации).")
@click.option("--dry-run", is_flag=True, help="Только показать, что будет загружено, и ошибочные строки.")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 50000),
              help="Строк в одной транзакции.")
@click.option("--encoding", default="auto", show_default=True, help="Кодировка CSV (auto: UTF-8, иначе "
                                                                     "Windows-1251).")
def import_(path, spec, create_missing, direction, dry_run, batch, encoding):
    """Загрузить прошлые обращения города из CSV или XLSX (закрытая история: без ответов жителям и сроков)."""
    try:
        click.echo("Чтение и проверка файла…")
        p = ticket_import.plan(path, spec, encoding)
        if p.encoding_note:
            click.echo(p.encoding_note)
        click.echo(f"Строк к загрузке: {len(p.rows)}; уже загружено раньше: {p.already}; ошибочных: {len(p.bad)}")
        _counts("По рубрикам:", p.per_category)
        _counts("По учреждениям:", p.per_institution)
        if p.has_unknown:
            _counts("Новые рубрики:" if create_missing else "Неизвестные рубрики:", p.unknown_categories, 200)
            _counts("Новые учреждения:" if create_missing else "Неизвестные учреждения:",
                    p.unknown_institutions, 200)
        if dry_run:
            _bad(p, None)
            if p.has_unknown and not create_missing:
                click.echo("Без --create-missing ничего не будет загружено: сопоставьте названия или добавьте "
                           "--create-missing.")
            click.echo("Пробный запуск: ничего не записано.")
            db.session.rollback()
            return
        _bad(p, SHOWN_BAD)
        if p.has_unknown and not create_missing:
            db.session.rollback()
            raise click.ClickException("Неизвестные рубрики или учреждения (список выше): ничего не загружено. "
                                       "Исправьте названия в файле или запустите с --create-missing.")
        if p.has_unknown:
            ticket_import.find_direction(direction)  # a wrong --direction fails before anything is created
            made_c, made_i = ticket_import.create_missing(p, direction)
            db.session.commit()
            if made_c:
                click.echo(f"Создано рубрик: {len(made_c)}")
            if made_i:
                click.echo(f"Создано учреждений: {len(made_i)}")
        if not p.rows:
            click.echo(f"Нового нет: загружено 0, уже были {p.already}, ошибочных {len(p.bad)}.")
            return
        with click.progressbar(length=len(p.rows), label="Загрузка", show_pos=True) as bar:
            result = ticket_import.load(p, batch=batch, progress=bar.update)
    except ImportProblem as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    except SQLAlchemyError as exc:
        db.session.rollback()
        raise click.ClickException(f"Ошибка базы данных, текущая партия не записана: "
                                   f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
    click.echo(f"Загружено: {result.loaded}; пропущено (уже были): {result.skipped}; ошибочных строк: {result.bad}")


@tickets_cli.command("imported-in-stats")
@click.argument("value", required=False, type=click.Choice(["on", "off"]))
def imported_in_stats_cmd(value):
    """Учитывать загруженную историю на панели и в открытой статистике (on) или нет (off)."""
    if value is not None:
        ticket_import.set_imported_in_stats(None, value == "on")
        db.session.commit()
    click.echo("Загруженная история учитывается в статистике: " + ("да" if imported_in_stats() else "нет"))
