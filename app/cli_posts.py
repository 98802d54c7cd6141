"""`flask posts publish`: a post to the participants' accounts from the command line — the same path as the page
(services/publishing/posts.create), acting as a user with that user's rights and approval rules."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services.errors import DomainError
from app.services.publishing import posts
from app.services.publishing.limits import NETWORK_NAMES

posts_cli = AppGroup("posts", help="Публикации в аккаунтах участников (кросспостинг).")

STATES = {"waiting": "ожидает", "scheduled": "запланировано", "sending": "отправляется", "published": "опубликовано",
          "failed": "ошибка", "unconfirmed": "не подтверждено", "refused": "отказано", "cancelled": "отменено",
          "deleted": "удалено"}
PUBLICATION_STATES = {"draft": "черновик", "awaiting_approval": "ждёт согласования пресс-службы",
                      "rejected": "не согласован", "scheduled": "запланирован", "publishing": "публикуется",
                      "done": "опубликован", "cancelled": "отменён", "deleted": "удалён"}


def _user(username: str | None) -> User:
    if username:
        user = db.session.scalar(select(User).where(User.username == username[:80]))
        if user is None or not user.is_active_user:
            raise click.ClickException(f"Пользователь «{username}» не найден или отключён.")
        return user
    user = db.session.scalar(select(User).where(User.role == "admin", User.is_active_user.is_(True))
                             .order_by(User.id))
    if user is None:
        raise click.ClickException("Нет ни одного активного администратора: укажите пользователя в --as.")
    return user


def _read(path: str) -> posts.Upload:
    try:
        with open(path, "rb") as fh:
            content = fh.read(posts.PHOTO_MAX_BYTES + 1)
    except OSError as exc:
        raise click.ClickException(f"Не удалось прочитать файл «{path}»: {exc.strerror or exc}.") from None
    return posts.Upload(path.rsplit("/", 1)[-1], content)


@posts_cli.command("publish")
@click.option("--text", default="", help="Текст поста.")
@click.option("--photo", "photos", multiple=True, help="Фото (JPEG, PNG, WebP, GIF; до 10 шт., до 10 МБ каждое).")
@click.option("--accounts", "spec", required=True, help="all | direction:<код направления> | <id,id,…>")
@click.option("--at", "at", default="", help="Когда опубликовать, по местному времени: \"ГГГГ-ММ-ДД ЧЧ:ММ\" "
                                              "(без него — сейчас).")
@click.option("--key", required=True, help="Ключ поста: тот же ключ второй раз ничего нового не публикует.")
@click.option("--as", "username", default=None, help="От имени пользователя (по умолчанию — первый администратор).")
@click.option("--no-link-preview", is_flag=True, help="Не показывать превью ссылок.")
def publish(text, photos, spec, at, key, username, no_link_preview):
    """Опубликовать или запланировать пост в выбранных аккаунтах."""
    if not (key or "").strip():  # a blank key would publish again on every run
        raise click.ClickException("Укажите ключ поста в --key (непустой): по нему повторный запуск ничего "
                                   "нового не публикует.")
    user = _user(username)
    uploads = [_read(path) for path in photos]
    try:
        accounts = posts.parse_accounts(user, spec)
        moment = posts.parse_city_time(at)
        result = posts.create(user, text=text, photos=uploads, account_ids=[a.id for a in accounts], at=moment,
                              link_preview=not no_link_preview, key=key)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    pub = result.publication
    if result.created:
        click.echo(f"Пост № {pub.id} создан: {PUBLICATION_STATES.get(pub.state, pub.state)}.")
    else:
        click.echo(f"Пост с ключом «{key}» уже есть: № {pub.id} ({PUBLICATION_STATES.get(pub.state, pub.state)}); "
                   "ничего нового не опубликовано.")
    for network, plan in posts.plans(pub).items():
        for line in ([plan.refused] if plan.refused else []) + plan.warnings:
            click.echo(f"  {NETWORK_NAMES[network]}: {line}")
    for delivery in pub.deliveries:
        account = delivery.account
        state = STATES.get(delivery.state, delivery.state)
        extra = f": {delivery.last_error}" if delivery.last_error else ""
        extra += f" {delivery.permalink}" if delivery.permalink else ""
        click.echo(f"  #{account.id} {NETWORK_NAMES.get(delivery.network, delivery.network)} "
                   f"«{account.title or account.handle}» — {state}{extra}")
