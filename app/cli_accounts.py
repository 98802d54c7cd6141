"""`flask accounts collect|import-history`: the participants' figures from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from app.extensions import db
from app.models import NETWORK_LABELS, NETWORKS, Account
from app.services.accounts import collection, history

accounts_cli = AppGroup("accounts", help="Аккаунты участников: сбор показателей, загрузка истории.")


@accounts_cli.command("collect")
@click.option("--network", type=click.Choice(NETWORKS), help="Только эта сеть.")
@click.option("--account", "account_id", type=int, help="Только этот аккаунт (id).")
def collect(network, account_id):
    """Собрать подписчиков, публикации и показатели записей аккаунтов участников сейчас."""
    query = db.select(db.func.count(Account.id)).where(Account.is_active.is_(True), Account.network.in_(NETWORKS),
                                                       Account.external_id.isnot(None))
    if network:
        query = query.where(Account.network == network)
    if account_id is not None:
        query = query.where(Account.id == account_id)
    total = db.session.scalar(query) or 0
    if not total:
        raise click.ClickException("Нет аккаунтов для сбора" + (f" (аккаунт {account_id} не найден, отключён или "
                                                                 "без id в сети)" if account_id else "") + ".")
    with click.progressbar(length=total, label="Сбор показателей", show_pos=True) as bar:
        summary = collection.collect_all(network=network, account_id=account_id, progress=bar.update)
    click.echo(f"Собрано: {len(summary.collected)} из {summary.total} за {summary.seconds:.1f} с; "
               f"не удалось: {len(summary.failed)}.")
    for item in summary.failed:
        click.echo(f"  #{item.account_id} {NETWORK_LABELS.get(item.network, item.network)} «{item.label}»: "
                   f"{item.error}")
    if summary.notified:
        click.echo(f"Отправлено уведомлений о сбоях: {summary.notified}.")


@accounts_cli.command("import-history")
@click.argument("file", type=click.File("rb"))
@click.option("--skip-bad", is_flag=True, help="Загрузить верные строки, а неверные пропустить (с отчётом).")
def import_history(file, skip_bad):
    """Загрузить прошлые показатели из CSV: дата; адрес аккаунта; подписчики; публикации."""
    report = history.import_history(file.read(history.MAX_BYTES + 1), skip_bad=skip_bad)
    for line, what in report.errors[:200]:
        click.echo(f"  строка {line}: {what}" if line else f"  {what}", err=True)
    if len(report.errors) > 200:
        click.echo(f"  … и ещё {len(report.errors) - 200} ошибок", err=True)
    if report.errors and not skip_bad:
        db.session.rollback()
        raise click.ClickException(f"Файл не загружен: ошибок {len(report.errors)}. Исправьте строки (или "
                                   "запустите с --skip-bad, чтобы пропустить их).")
    db.session.commit()
    click.echo(f"Загружено строк: {report.written} (аккаунтов: {report.accounts})"
               + (f"; пропущено строк с ошибками: {report.skipped}" if report.skipped else "") + ".")
