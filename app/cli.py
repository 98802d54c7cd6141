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
def seed_demo(tickets, days):
    """Заполнить базу демонстрационными данными (повторный запуск ничего не дублирует)."""
    from app.demo import seed

    seed.run(tickets=tickets, days=days, echo=click.echo)


def register(app: Flask) -> None:
    app.cli.add_command(users)
    app.cli.add_command(seed_demo)
