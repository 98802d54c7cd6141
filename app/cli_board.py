"""`flask board rebuild-rollups`: the board's daily rollups built from every ticket (app/services/board/rollups.py)."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

from app.services.board import rollups, today

board_cli = AppGroup("board", help="Доска главы: сводки по дням.")


@board_cli.command("rebuild-rollups")
def rebuild_rollups() -> None:
    """Build the board's daily and monthly rollups from every ticket (month by month, each committed); after it
    the board reads any period from them and the job keeps them up to date."""
    if not rollups.enabled():
        raise click.ClickException("Сводки доступны только на PostgreSQL с BOARD_ROLLUPS=1.")
    started = time.monotonic()
    steps = rollups.rebuild_steps(today())
    first = next(steps, None)
    if first is None:
        click.echo("Обращений нет: сводки пусты.")
        return
    with click.progressbar(length=first[1], label="Месяцы") as bar:
        bar.update(1)
        for _ in steps:
            bar.update(1)
    click.echo(f"Сводки построены за {time.monotonic() - started:.1f} с.")
