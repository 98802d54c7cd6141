"""Command-line: `flask users create`, `flask seed-demo`."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.extensions import db
from app.models import ROLES
from app.services import auth
from app.services.errors import DomainError

users = AppGroup("users", help="Пользователи системы.")


@users.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Роль пользователя.")
@click.option("--institution", "institution_id", type=int, default=None, help="ID учреждения (для исполнителя).")
@click.option("--full-name", default="", help="ФИО.")
@click.password_option(help="Пароль (спросит, если не указан).")
def create_user(username, role, institution_id, full_name, password):
    """Создать пользователя."""
    try:
        user = auth.create_user(username, password, role, full_name=full_name, institution_id=institution_id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    click.echo(f"Создан пользователь {user.username} ({user.role_label}), id={user.id}")


@click.command("seed-demo")
@click.option("--tickets", default=2000, show_default=True, help="Сколько обращений создать.")
@click.option("--days", default=90, show_default=True, help="За сколько последних дней.")
@click.option("--no-model", is_flag=True, help="Не обучать модель разбора (по умолчанию обучается, если её нет).")
def seed_demo(tickets, days, no_model):
    """Заполнить базу демонстрационными данными (повторный запуск ничего не дублирует) и обучить модель разбора
    на разобранных сотрудниками обращениях, если модели ещё нет."""
    from app.demo import seed
    from app.services.routing_model import store, training

    seed.run(tickets=tickets, days=days, echo=click.echo)
    if no_model or store.current_row("category") is not None:
        return
    click.echo("Обучение модели разбора на решённых обращениях демо-города (несколько секунд)…")
    result = training.run(min_n=50, n_folds=3)
    db.session.commit()
    labels = {"category": "рубрик", "institution": "исполнителей"}
    for r in result:
        click.echo(f"Модель {labels.get(r.target, r.target)}: " + ("сохранена" if r.stored else r.reason or "нет"))


@click.command("simulate")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="Адрес приложения.")
@click.option("--every", default=8.0, show_default=True, help="Секунд между сообщениями.")
@click.option("--count", type=int, default=None, help="Сколько сообщений отправить (по умолчанию — без конца).")
@click.option("--seed", type=int, default=None, help="Зерно случайных чисел (для повторяемости).")
def simulate(url, every, count, seed):
    """Жители пишут в сети: реалистичные сообщения через настоящие вебхуки (для демо)."""
    from app.demo import simulate as sim

    accepted = sim.run(url.rstrip("/"), every, count, seed, echo=click.echo)
    click.echo(f"Принято сообщений: {accepted}")


@click.command("demo-env")
def demo_env():
    """Печатает переменные окружения демо (поддельные токены, API сетей — локальные имитаторы)."""
    import os
    import shlex

    from app.demo.simulate import DEMO_ENV

    for key, value in DEMO_ENV.items():
        if not os.environ.get(key):
            click.echo(f"export {key}={shlex.quote(value)}")


@click.command("check-config")
def check_config():
    """Чего не хватает для эксплуатации: ключ, HTTPS-cookies, PUBLIC_BASE_URL, секреты сетей, почта.
    Код выхода 1, если не хватает важного."""
    from flask import current_app

    from app.services.config_check import check, check_accounts

    findings = check(current_app.config) + check_accounts()
    for f in findings:
        click.echo(f"{'КРИТИЧНО' if f.critical else 'внимание'}  {f.setting}: {f.message}")
    critical = sum(1 for f in findings if f.critical)
    if critical:
        click.echo(f"Не готово к эксплуатации: критичных замечаний {critical} (docs/security.md).")
        raise SystemExit(1)
    click.echo("Критичных замечаний нет." if findings else "Всё задано.")


intake_cli = AppGroup("intake", help="Приём сообщений из сетей.")


@intake_cli.command("replay")
def intake_replay():
    """Разобрать все сохранённые, но не разобранные сообщения и переотправить зависшие ответы
    (например, после того как Redis был недоступен)."""
    from app.jobs import enqueue
    from app.services import intake, replies

    total = intake.untriaged_count()
    done = 0
    with click.progressbar(length=total, label="Сообщения", show_pos=True) as bar:
        while True:
            n = intake.triage_pending()
            db.session.commit()
            bar.update(n)
            done += n
            if n == 0:
                break
    replies.recover_stale()  # rows a dead worker left "sending": VK retried, the others «не подтверждена»
    stale = replies.stale_pending()
    for rid in stale:
        enqueue("app.jobs.delivery.deliver", rid, queue="replies")
    click.echo(f"Разобрано сообщений: {done}; ответов отправлено повторно: {len(stale)}")


@intake_cli.command("status")
def intake_status():
    """Сколько сообщений ждут разбора и сколько ответов ждут отправки."""
    from sqlalchemy import func, select

    from app.models import Reply
    from app.services import intake

    pending = db.session.scalar(select(func.count(Reply.id)).where(Reply.state == "pending"))
    failed = db.session.scalar(select(func.count(Reply.id)).where(Reply.state == "failed"))
    unconfirmed = db.session.scalar(select(func.count(Reply.id)).where(Reply.state == "unconfirmed"))
    click.echo(f"Не разобрано сообщений: {intake.untriaged_count()}; ответов в очереди: {pending}; "
               f"не доставлено: {failed}; доставка не подтверждена: {unconfirmed}")


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(seed_demo)
    app.cli.add_command(intake_cli)
    app.cli.add_command(simulate)
    from app.channels.telegram_cli import telegram_cli

    app.cli.add_command(telegram_cli)
    app.cli.add_command(demo_env)
    app.cli.add_command(check_config)
    from app.cli_sla import sla_cli

    app.cli.add_command(sla_cli)
    from app.cli_accounts import accounts_cli

    app.cli.add_command(accounts_cli)
    from app.cli_posts import posts_cli

    app.cli.add_command(posts_cli)
    from app.cli_tickets import tickets_cli

    app.cli.add_command(tickets_cli)
    from app.cli_routing import routing_cli

    app.cli.add_command(routing_cli)
    from app.cli_board import board_cli

    app.cli.add_command(board_cli)
