"""A participant's accounts as the staff manage them (issue 12): adding one by its address (the platform
resolves it and the title is shown to confirm before anything is saved), plain links to other networks,
deactivation, and each account's own credentials (checked when saved, stored encrypted, never shown again).

The one place that calls the platforms for staff actions: `platforms.resolve` and `platforms.check_token`.
Who may do what: services/access (`can_manage_accounts`: admin and press any participant, smm its own).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import NETWORK_LABELS, Account, Institution, Notification, User, utcnow
from app.services import access, secretbox
from app.services.accounts import platforms
from app.services.errors import NotAllowed, NotFound, ValidationFailed

COLLECTED = ("telegram", "vk", "ok", "max")  # networks the app resolves and collects; "other" is a plain link
BOT_NETWORKS = ("telegram", "max")  # the city's bot, added by the participant as an administrator of its channel
# A platform error without a message of its own: what the staff read for each kind.
KIND_MESSAGES = {
    "wrong_network": "Это адрес другой сети: проверьте ссылку",
    "not_found": "Такого аккаунта нет: проверьте адрес (возможно, он удалён)",
    "private": "Аккаунт закрыт или приватный: статистику закрытого аккаунта получить нельзя",
    "no_rights": "У токена нет нужных прав",
    "bad_token": "Токен не подходит: платформа его не приняла",
    "rate_limited": "Платформа просит подождать: повторите через минуту",
    "unavailable": "Платформа сейчас не отвечает: повторите позже",
    "garbage": "Платформа ответила непонятно: повторите позже",
}
MAX_TOKEN = 1000
MAX_COUNT = 2**31 - 1  # the column is a PostgreSQL integer


def _platform_failed(exc: platforms.PlatformError, field: str) -> ValidationFailed:
    message = str(getattr(exc, "message", "") or "").strip() or KIND_MESSAGES.get(getattr(exc, "kind", ""), "")
    return ValidationFailed("%(why)s", field=field, why=message or KIND_MESSAGES["garbage"])


def accounts_of(actor: User, inst: Institution) -> list[Account]:
    access.ensure_can_manage_accounts(actor, inst)
    return list(db.session.scalars(select(Account).where(Account.institution_id == inst.id)
                                   .order_by(Account.is_active.desc(), Account.network, Account.id)))


def get(actor: User, inst: Institution, account_id: int | None) -> Account:
    """The participant's account; another participant's is as missing as a missing one."""
    access.ensure_can_manage_accounts(actor, inst)
    account = db.session.get(Account, account_id) if account_id is not None else None
    if account is None or account.institution_id != inst.id:
        raise NotFound("Аккаунт не найден")
    return account


# --- adding an account ------------------------------------------------------------------------------------------
def _address(text) -> str:
    text = " ".join(str(text or "").split())
    if not text:
        raise ValidationFailed("Вставьте адрес аккаунта: ссылку или @имя", field="address")
    if len(text) > 300:
        raise ValidationFailed("Адрес слишком длинный (не больше 300 символов)", field="address")
    return text


def _check_bounds(found: platforms.Resolved) -> None:
    if not found.handle or len(found.handle) > 120 or len(found.url or "") > 300 or \
            len(str(found.external_id or "")) > 64:
        raise ValidationFailed("Платформа вернула слишком длинный адрес аккаунта: сохранить его нельзя",
                               field="address")


def _duplicate(network: str, handle: str, external_id: str | None) -> Account | None:
    same = [func.lower(Account.handle) == handle.lower()]
    if external_id:
        same.append(Account.external_id == str(external_id))
    return db.session.scalar(select(Account).where(Account.network == network, or_(*same)).limit(1))


def _refuse_duplicate(found: platforms.Resolved) -> None:
    taken = _duplicate(found.network, found.handle, found.external_id)
    if taken is not None:
        raise ValidationFailed("Этот аккаунт уже добавлен: участник «%(who)s»", field="address",
                               who=taken.institution.short_name)


def preview(actor: User, inst: Institution, address: str, config) -> platforms.Resolved:
    """Ask the platform what the address is (nothing is saved): the title, network and subscribers to confirm."""
    access.ensure_can_manage_accounts(actor, inst)
    address = _address(address)
    try:
        found = platforms.resolve(address, config)
    except platforms.PlatformError as exc:
        raise _platform_failed(exc, "address") from exc
    _check_bounds(found)
    _refuse_duplicate(found)
    return found


def add(actor: User, inst: Institution, address: str, external_id: str, config,
        now: datetime | None = None) -> Account:
    """Save the account the staff confirmed: resolved again (the page's hidden fields are not trusted) and saved
    only when it is still the account that was shown."""
    found = preview(actor, inst, address, config)
    if str(found.external_id) != str(external_id or ""):
        raise ValidationFailed("Аккаунт по этому адресу изменился: проверьте его ещё раз", field="address")
    account = Account(institution_id=inst.id, network=found.network, handle=found.handle,
                      external_id=str(found.external_id)[:64] if found.external_id else None,
                      url=found.url, title=(found.title or found.handle)[:300],
                      followers=min(max(0, int(found.followers or 0)), MAX_COUNT),
                      posts_source="seen" if found.network in platforms.POSTS_SEEN else "api",
                      connected_at=now or utcnow(), is_active=True)
    db.session.add(account)
    db.session.flush()
    _vouch(actor, account, now)
    _notify_press(actor, inst, account)
    return account


# --- ownership: the press service confirms what an smm specialist added ----------------------------------------
def _vouch(actor: User, account: Account, now: datetime | None) -> None:
    """Press and admin vouch for what they add; an smm specialist's account waits for them (the city's bot
    administering a channel proves nothing about whose channel it is)."""
    if access.can_confirm_accounts(actor):
        account.confirmed_at, account.confirmed_by_id = now or utcnow(), actor.id
    else:  # after the INSERT: the column's default (confirmed, for accounts made outside these pages) fires on None
        account.confirmed_at = account.confirmed_by_id = None
        db.session.flush()


def _notify_press(actor: User, inst: Institution, account: Account) -> None:
    if account.confirmed_at is not None:
        return
    net = str(NETWORK_LABELS.get(account.network, account.label or account.network))
    text = (f"SM-специалист участника «{inst.short_name}» добавил аккаунт {net} «{account.title or account.handle}» "
            f"({account.url}): подтвердите, что он принадлежит участнику — до этого публикаций в него не будет")
    for user in db.session.scalars(select(User).where(User.role == "press", User.is_active_user.is_(True))):
        db.session.add(Notification(user_id=user.id, kind="account_added", text=text))


def is_confirmed(account: Account | None) -> bool:
    return account is not None and account.confirmed_at is not None


def confirm(actor: User, account: Account, now: datetime | None = None) -> bool:
    """The press service (or an admin) confirms the account belongs to its participant: the app publishes to it
    from now on. Idempotent (True when this call confirmed it). Caller commits."""
    if not access.can_confirm_accounts(actor):
        raise NotAllowed("Подтверждать аккаунты могут пресс-служба и администратор")
    if account.confirmed_at is not None:
        return False
    account.confirmed_at, account.confirmed_by_id = now or utcnow(), actor.id
    return True


def _http_url(value, field: str) -> str:
    value = str(value or "").strip()
    parts = urlsplit(value)
    if not value or parts.scheme.lower() not in ("http", "https") or not parts.hostname or \
            any(ch.isspace() for ch in value):
        raise ValidationFailed("Ссылка: укажите адрес, начинающийся с http:// или https://", field=field)
    if len(value) > 300:
        raise ValidationFailed("Ссылка: не больше %(n)s символов", field=field, n=300)
    return value


def add_other(actor: User, inst: Institution, label: str, url: str, now: datetime | None = None) -> Account:
    """A link to another network (Дзен, RuTube…): a label and an http(s) address, no statistics."""
    access.ensure_can_manage_accounts(actor, inst)
    label = " ".join(str(label or "").split())
    if not label:
        raise ValidationFailed("Укажите название сети", field="label")
    if len(label) > 60:
        raise ValidationFailed("Название сети: не больше %(n)s символов", field="label", n=60)
    url = _http_url(url, "url")
    handle = url.split("://", 1)[1].rstrip("/").lower()[:120]
    if _duplicate("other", handle, None) is not None:
        raise ValidationFailed("Эта ссылка уже добавлена", field="url")
    account = Account(institution_id=inst.id, network="other", handle=handle, url=url, title=label, label=label,
                      posts_source="seen", connected_at=now or utcnow(), is_active=True)
    db.session.add(account)
    db.session.flush()
    _vouch(actor, account, now)
    _notify_press(actor, inst, account)
    return account


def set_active(actor: User, inst: Institution, account: Account, active: bool) -> None:
    """Switch an account off (no collection, hidden from public pages; its history is kept) or on again."""
    access.ensure_can_manage_accounts(actor, inst)
    account.is_active = bool(active)


# --- credentials ------------------------------------------------------------------------------------------------
@dataclass
class CredentialState:
    """What the account page may say about the stored credentials: only whether each is set."""

    token: bool
    user_token: bool
    secret: bool
    confirmation_code: str | None
    rights: str | None
    checked_at: datetime | None


def credential_state(account: Account) -> CredentialState:
    return CredentialState(bool(account.token_enc), bool(account.user_token_enc), bool(account.secret_enc),
                           account.confirmation_code, account.token_rights, account.token_checked_at)


def takes_credentials(account: Account) -> bool:
    """VK communities and OK groups have tokens of their own; Telegram and MAX use the city's bot."""
    return account.network in ("vk", "ok")


def _token(value, field: str) -> str | None:
    value = str(value or "").strip()
    if not value:
        return None
    if len(value) > MAX_TOKEN or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ValidationFailed("Токен: одна строка без пробелов, не больше %(n)s символов", field=field, n=MAX_TOKEN)
    return value


def save_credentials(actor: User, inst: Institution, account: Account, config, *, token: str | None = None,
                     secret: str | None = None, confirmation_code: str | None = None,
                     user_token: str | None = None, now: datetime | None = None) -> str | None:
    """Store the credentials entered (an empty field keeps what is stored). A token is checked with the platform
    first (`platforms.check_token`); a refused one stores nothing. Returns what the community token may do."""
    access.ensure_can_manage_accounts(actor, inst)
    if not takes_credentials(account):
        raise ValidationFailed("У этого аккаунта нет своих токенов: он работает через бота города", field="token")
    token, user_token = _token(token, "token"), _token(user_token, "user_token")
    secret = str(secret or "").strip()
    code = str(confirmation_code or "").strip()
    if account.network != "vk" and (secret or code or user_token):
        raise ValidationFailed("Для группы Одноклассников нужен только токен группы", field="secret")
    if len(secret) > 200 or any(ch.isspace() for ch in secret):
        raise ValidationFailed("Секретный ключ: одна строка без пробелов, не больше 200 символов", field="secret")
    if len(code) > 64 or any(ch.isspace() for ch in code):
        raise ValidationFailed("Строка подтверждения: одна строка без пробелов, не больше 64 символов",
                               field="confirmation_code")
    if not (token or user_token or secret or code):
        raise ValidationFailed("Введите хотя бы одно значение", field="token")
    rights = None
    try:
        if token:
            rights = platforms.check_token(account.network, account.external_id, token, config, kind="community")
        user_rights = (platforms.check_token(account.network, account.external_id, user_token, config, kind="user")
                       if user_token else None)
    except platforms.PlatformError as exc:
        raise _platform_failed(exc, "user_token" if token is None else "token") from exc
    now = now or utcnow()
    if token:
        account.token_enc = secretbox.encrypt(token, config)
        account.token_rights = str(rights or "")[:500] or None
        account.token_checked_at = now
    if user_token:
        account.user_token_enc = secretbox.encrypt(user_token, config)
        if not token:
            account.token_checked_at = account.token_checked_at or now
    if secret:
        account.secret_enc = secretbox.encrypt(secret, config)
    if code:
        account.confirmation_code = code
    if token or user_token:  # publishing's verdict on the old token (issue 13) is stale: asked again when it matters
        account.publish_ok = account.publish_photos_ok = None
        account.publish_reason = None
    return "; ".join(str(r) for r in (rights, user_rights) if r) or None


def check_bot(actor: User, inst: Institution, account: Account, config, now: datetime | None = None) -> str:
    """Telegram and MAX: ask the platform whether the city's bot administers the channel; the answer is kept
    as what the account's access allows (token_rights, token_checked_at)."""
    access.ensure_can_manage_accounts(actor, inst)
    if account.network not in BOT_NETWORKS:
        raise ValidationFailed("Этот аккаунт работает через свой токен, а не через бота города", field="token")
    try:
        rights = platforms.check_token(account.network, account.external_id, None, config)
    except platforms.PlatformError as exc:
        raise _platform_failed(exc, "token") from exc
    account.token_rights, account.token_checked_at = str(rights or "")[:500] or None, now or utcnow()
    return account.token_rights or ""


CLEARABLE = {"token": ("token_enc", "token_rights", "token_checked_at"), "user_token": ("user_token_enc",),
             "secret": ("secret_enc",), "confirmation_code": ("confirmation_code",)}


def clear_credential(actor: User, inst: Institution, account: Account, which: str) -> None:
    access.ensure_can_manage_accounts(actor, inst)
    if which not in CLEARABLE:
        raise ValidationFailed("Неизвестное поле", field="which")
    for column in CLEARABLE[which]:
        setattr(account, column, None)


def network_label(network: str) -> str:
    return str(NETWORK_LABELS.get(network, network))
