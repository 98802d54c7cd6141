"""`flask telegram …`: long polling for installs without a public address, and webhook setup.

    flask telegram poll            # getUpdates in a loop; Ctrl+C stops
    flask telegram poll --once     # take what is waiting and exit (cron, tests)
    flask telegram set-webhook https://city.example.org/hooks/telegram
    flask telegram delete-webhook  # polling works only while no webhook is set

Polling stores updates exactly as the webhook does (adapter.parse → intake.accept → commit). The next offset
is written to a small state file after every committed batch, so a restart does not fetch the batch again;
if it does anyway (killed between commit and write), the unique (network, external id) key stores each
message once.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import OperationalError

from app.channels.base import BadPayload, ChannelError
from app.channels.clean import clean_payload

telegram_cli = AppGroup("telegram", help="Telegram: опрос бота без публичного адреса, настройка вебхука.")

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _require_token(config) -> None:
    if not config.get("TELEGRAM_BOT_TOKEN"):
        raise click.ClickException("Не задан TELEGRAM_BOT_TOKEN: Telegram не подключён.")


def _state_path(state_file: str | None) -> Path:
    return Path(state_file) if state_file else Path(current_app.instance_path) / "telegram-poll.json"


def load_offset(path: Path, bot: str | None) -> int | None:
    """The saved offset, if it belongs to this bot (another token starts from what Telegram keeps)."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or state.get("bot_id") != bot or not isinstance(state.get("offset"), int):
        return None
    return state["offset"]


def save_offset(path: Path, bot: str | None, offset: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"bot_id": bot, "offset": offset}), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash leaves the old offset or the new one


@telegram_cli.command("poll")
@click.option("--once", is_flag=True, help="Забрать накопившиеся обновления и выйти.")
@click.option("--timeout", default=25, show_default=True, type=click.IntRange(0, 50),
              help="Сколько секунд Telegram держит запрос, если обновлений нет.")
@click.option("--state-file", type=click.Path(dir_okay=False), default=None,
              help="Файл с offset (по умолчанию instance/telegram-poll.json).")
def poll_command(once: bool, timeout: int, state_file: str | None) -> None:
    """Принимать сообщения боту через getUpdates (когда у сервера нет публичного адреса для вебхука)."""
    from app.channels import telegram
    from app.extensions import db
    from app.services import intake
    from app.services.accounts import posts as account_posts

    config = current_app.config
    _require_token(config)
    adapter = telegram.TelegramAdapter()
    bot = telegram.bot_id(config)
    path = _state_path(state_file)
    state = {"offset": load_offset(path, bot), "updates": 0, "new": 0, "rejected": 0, "unsaved": False}

    def handle(updates: list[dict]) -> None:
        messages, posts, rejected = [], [], 0
        for update in updates:
            try:
                parsed = adapter.parse(clean_payload(update), config)
                messages += parsed.messages
                posts += parsed.posts
            except BadPayload as exc:
                rejected += 1
                intake.reject("telegram", exc.reason, json.dumps(update, ensure_ascii=False),
                              {"Source": "getUpdates"})
        new = intake.accept(messages)
        account_posts.store(posts)
        db.session.commit()
        for update in updates:  # button presses: stop the spinner (a webhook does it in its answer)
            query = update.get("callback_query")
            if isinstance(query, dict) and query.get("id"):
                try:
                    telegram.call(config, "answerCallbackQuery", {"callback_query_id": str(query["id"])})
                except ChannelError:
                    pass  # too old or already answered: the press itself is stored
        state["offset"] = max(u["update_id"] for u in updates) + 1
        try:
            save_offset(path, bot, state["offset"])
        except OSError as exc:  # Telegram still forgets the batch at the next request: only a restart repeats it
            if not state["unsaved"]:
                click.echo(f"Не удалось сохранить offset в {path}: {exc}", err=True)
            state["unsaved"] = True
        state["updates"] += len(updates)
        state["new"] += len(new)
        state["rejected"] += rejected
        line = f"{time.strftime('%H:%M:%S')} обновлений: {len(updates)}, новых сообщений: {len(new)}"
        click.echo(line + (f", отклонено: {rejected}" if rejected else ""))

    def on_error(exc: ChannelError, wait: float) -> None:
        click.echo(f"{time.strftime('%H:%M:%S')} {exc} — повтор через {wait:g} с", err=True)

    if not once:
        click.echo("Опрос Telegram (getUpdates). Остановить: Ctrl+C.")
    while True:
        try:
            if once:
                telegram.poll(config, handle, stop_after=1000, offset=state["offset"], timeout=0, until_idle=True)
            else:
                telegram.poll(config, handle, offset=state["offset"], timeout=timeout, on_error=on_error)
            break
        except KeyboardInterrupt:
            db.session.rollback()
            click.echo("Остановлено.")
            break
        except ChannelError as exc:
            db.session.rollback()
            hint = " Удалите вебхук: flask telegram delete-webhook" if "webhook" in str(exc).lower() else ""
            raise click.ClickException(f"{exc}.{hint}") from exc
        except OperationalError as exc:  # the database went away: the batch was not confirmed, it comes again
            db.session.rollback()
            if once:
                raise click.ClickException(f"База данных недоступна: {exc.orig or exc}") from exc
            click.echo(f"{time.strftime('%H:%M:%S')} база данных недоступна — повтор через 5 с", err=True)
            time.sleep(5)
    if once:
        summary = f"Получено обновлений: {state['updates']}, новых сообщений: {state['new']}"
        click.echo(summary + (f", отклонено: {state['rejected']}" if state["rejected"] else ""))


def webhook_url(url: str) -> str:
    """The site's address alone means its Telegram webhook: https://city.example.org → …/hooks/telegram."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter("нужен адрес вида https://city.example.org/hooks/telegram", param_hint="URL")
    if parts.path in ("", "/"):
        return url.rstrip("/") + "/hooks/telegram"
    return url


@telegram_cli.command("set-webhook")
@click.argument("url")
@click.option("--drop-pending", is_flag=True, help="Отбросить обновления, накопившиеся у Telegram.")
def set_webhook_command(url: str, drop_pending: bool) -> None:
    """Направить обновления бота на URL (адрес /hooks/telegram этого сайта, HTTPS) с секретом из настроек."""
    from app.channels import telegram

    config = current_app.config
    _require_token(config)
    secret = config.get("TELEGRAM_WEBHOOK_SECRET")
    if not secret:
        raise click.ClickException("Не задан TELEGRAM_WEBHOOK_SECRET: без него вебхук отклоняет все запросы.")
    if not _SECRET_TOKEN.match(str(secret)):
        raise click.ClickException("TELEGRAM_WEBHOOK_SECRET: Telegram допускает 1–256 символов A-Z, a-z, 0-9, _ и -.")
    url = webhook_url(url)
    params = {"url": url, "secret_token": str(secret), "allowed_updates": telegram.ALLOWED_UPDATES,
              "drop_pending_updates": drop_pending}
    try:
        telegram.call(config, "setWebhook", params)
    except ChannelError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Вебхук установлен: {url}")


@telegram_cli.command("delete-webhook")
def delete_webhook_command() -> None:
    """Убрать вебхук (нужно для flask telegram poll)."""
    from app.channels import telegram

    config = current_app.config
    _require_token(config)
    try:
        telegram.call(config, "deleteWebhook", {})
    except ChannelError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo("Вебхук удалён.")
