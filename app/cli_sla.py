"""`flask sla add|between`: working-time arithmetic from the command line (city time)."""
from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from app.extensions import db
from app.models import Institution
from app.services import sla

sla_cli = AppGroup("sla", help="Рабочее время: сроки по производственному календарю.")

_FMT = "%Y-%m-%d %H:%M"


def _moment(value: str, name: str) -> datetime:
    try:
        naive = datetime.strptime(value.strip(), _FMT)
    except ValueError:
        raise click.BadParameter(f"«{value}» — нужен формат ГГГГ-ММ-ДД ЧЧ:ММ, например 2026-12-30 17:00.",
                                 param_hint=name) from None
    return naive.replace(tzinfo=sla.city_calendar().tz)


def _calendar(institution_id: int | None) -> sla.WorkCalendar:
    if institution_id is None:
        return sla.city_calendar()
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        raise click.BadParameter(f"учреждение с ID {institution_id} не найдено.", param_hint="--institution")
    try:
        return sla.calendar_for(institution)
    except ValueError as exc:
        raise click.ClickException(f"У учреждения {institution_id} неверные часы работы: {exc}") from None


_institution_opt = click.option("--institution", "institution_id", type=int, default=None,
                                help="ID учреждения (его часы работы); по умолчанию — часы города.")


@sla_cli.command("add")
@click.argument("start")
@click.argument("minutes")
@_institution_opt
def add(start, minutes, institution_id):
    """Момент через MINUTES рабочих минут после START (время города, ГГГГ-ММ-ДД ЧЧ:ММ)."""
    try:
        minutes = int(minutes)
    except ValueError:
        raise click.BadParameter(f"«{minutes}» — нужно целое число минут.", param_hint="MINUTES") from None
    if minutes < 0:
        raise click.BadParameter("число минут не может быть отрицательным.", param_hint="MINUTES")
    begin = _moment(start, "START")
    cal = _calendar(institution_id)
    try:
        end = cal.add_minutes(begin, minutes)
    except ValueError:
        raise click.ClickException("Срок выходит за пределы календаря (больше десяти лет).") from None
    click.echo(end.astimezone(sla.city_calendar().tz).strftime(_FMT))


@sla_cli.command("between")
@click.argument("start")
@click.argument("end")
@_institution_opt
def between(start, end, institution_id):
    """Рабочие минуты от START до END (время города, ГГГГ-ММ-ДД ЧЧ:ММ)."""
    a, b = _moment(start, "START"), _moment(end, "END")
    click.echo(_calendar(institution_id).minutes_between(a, b))


__all__ = ["sla_cli"]
