"""`flask routing train|evaluate`: the learned router from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from app.extensions import db
from app.services.routing_model import evaluate as ev
from app.services.routing_model import training

routing_cli = AppGroup("routing", help="Маршрутизация обращений моделью: обучение и оценка.")


def _say(msg: str) -> None:
    click.echo(f"… {msg}", err=True)


def _print(results) -> None:
    for r in results:
        if r.report is not None:
            click.echo(ev.format_report(r.report, title={"category": "Рубрика", "institution": "Учреждение"}
                                        .get(r.target, r.target)))
        if r.stored:
            click.echo(f"{r.target}: сохранена версия {r.version} ({r.reason})")
        elif r.reason:
            click.echo(f"{r.target}: не сохранена — {r.reason}")
        click.echo("")


@routing_cli.command("train")
@click.option("--min", "min_n", type=click.IntRange(2), default=50, show_default=True,
              help="Меньше подтверждённых обращений — не обучать.")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True)
def train(min_n, folds):
    """Обучить рубрику и учреждение на подтверждённых обращениях; новая модель заменяет текущую, только если
    она лучше на тех же фолдах."""
    results = training.run(min_n=min_n, n_folds=folds, save=True, progress=_say)
    db.session.commit()
    _print(results)


@routing_cli.command("evaluate")
@click.option("--folds", type=click.IntRange(2, 20), default=5, show_default=True)
def evaluate(folds):
    """Перекрёстная проверка модели рядом с ключевыми словами (ничего не сохраняет)."""
    _print(training.run(min_n=2, n_folds=folds, save=False, progress=_say))


__all__ = ["routing_cli"]
