"""What a production deployment still lacks (`flask check-config`): one list, each item critical or a warning."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.demo.data import USERS as DEMO_USERS
from app.demo.seed import PASSWORD as DEMO_PASSWORD
from app.extensions import db
from app.models import User
from app.security import key_problem
from app.services import secretbox

# network: (what turns it on, the secret that authenticates its webhook)
NETWORK_SECRETS = {
    "telegram": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"),
    "vk": ("VK_ACCESS_TOKEN", "VK_SECRET"),
    "max": ("MAX_BOT_TOKEN", "MAX_WEBHOOK_SECRET"),
    "ok": ("OK_ACCESS_TOKEN", "OK_WEBHOOK_SECRET"),
}
API_URLS = ("TELEGRAM_API_URL", "VK_API_URL", "MAX_API_URL", "OK_API_URL")
MIN_TOKEN = 32
PUBLISHED_SECRETS = frozenset({"demo-secret-0123456789"})  # app/demo/simulate.py: printed by `flask demo-env`


@dataclass(frozen=True)
class Finding:
    critical: bool
    setting: str
    message: str


def _local(url: str | None) -> bool:
    host = (urlsplit(url or "").hostname or "").lower()
    return host in ("127.0.0.1", "localhost", "::1")


def check(config) -> list[Finding]:
    out: list[Finding] = []

    def need(critical: bool, setting: str, message: str) -> None:
        out.append(Finding(critical, setting, message))

    problem = key_problem(config.get("SECRET_KEY"))
    if problem:
        need(True, "SECRET_KEY", f"{problem}: сессии и ссылки жителей можно подделать")
    if config.get("DEBUG"):
        need(True, "FLASK_DEBUG", "включён режим отладки: сессии подписаны случайным ключом процесса, ошибки "
                                  "показывают код — уберите FLASK_DEBUG")
    if not config.get("SESSION_COOKIE_SECURE"):
        need(True, "PREFERRED_URL_SCHEME",
             "cookies без флага Secure: задайте PREFERRED_URL_SCHEME=https (или SESSION_COOKIE_SECURE=1)")
    base = config.get("PUBLIC_BASE_URL")
    if not base:
        need(True, "PUBLIC_BASE_URL", "не задан: ссылки в ответах жителям и в сводке главе будут без адреса")
    elif urlsplit(base).scheme != "https":
        need(True, "PUBLIC_BASE_URL", f"не https: {base}")
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite"):
        need(True, "DATABASE_URL", "база SQLite (демо): в эксплуатации нужен PostgreSQL")
    if not config.get("REDIS_URL"):
        need(False, "REDIS_URL", "не задан: задания выполняются в веб-процессе, без отдельного обработчика")
    for network, (token, secret) in NETWORK_SECRETS.items():
        if config.get(token) and not config.get(secret):
            need(True, secret, f"{network}: сеть включена ({token}), но вебхук не проверяет подпись — "
                               f"задайте {secret}")
        elif config.get(secret) and str(config.get(secret)) in PUBLISHED_SECRETS:
            need(True, secret, f"{network}: секрет вебхука — общеизвестное значение демо (flask demo-env): "
                               "задайте свой случайный")
        elif config.get(secret) and len(str(config.get(secret))) < 16:
            need(False, secret, f"{network}: секрет вебхука короче 16 символов")
    for name in API_URLS:
        if _local(config.get(name)):
            need(True, name, f"указывает на локальный имитатор ({config.get(name)}), а не на сеть")
    for token in [t.strip() for t in str(config.get("INGEST_API_TOKENS") or "").split(",") if t.strip()]:
        if len(token) < MIN_TOKEN:
            need(True, "INGEST_API_TOKENS", f"токен API короче {MIN_TOKEN} символов ({token[:4]}…)")
    if not config.get("ACCOUNT_SECRETS_KEY"):
        need(False, "ACCOUNT_SECRETS_KEY", "не задан: токены аккаунтов участников шифруются ключом, выведенным из "
                                           "SECRET_KEY (смена SECRET_KEY сделает их нечитаемыми)")
    elif not secretbox.valid_keys(config.get("ACCOUNT_SECRETS_KEY")):
        need(True, "ACCOUNT_SECRETS_KEY", "не ключ Fernet (32 байта в base64url; несколько — через запятую)")
    if not config.get("MAIL_SERVER"):
        need(False, "MAIL_SERVER", "почта выключена: еженедельная сводка главе не уходит")
    elif not (config.get("MAIL_FROM") or config.get("MAIL_USERNAME")):
        need(False, "MAIL_FROM", "не задан адрес отправителя")
    elif not (config.get("MAIL_USE_TLS") or config.get("MAIL_USE_SSL")):
        need(True, "MAIL_USE_TLS", "почта уходит без шифрования (MAIL_USE_TLS=1 или MAIL_USE_SSL=1)")
    return out


def check_accounts() -> list[Finding]:
    """Active staff accounts of the demo (admin, moderator…) that still have its password «demo» (`flask seed-demo`
    run on this database): anyone who has read the README can log in with them."""
    names = [name.lower() for name, *_ in DEMO_USERS]  # the seed's accounts only: a scrypt check each
    try:
        users = list(db.session.scalars(select(User).where(User.is_active_user.is_(True),
                                                           func.lower(User.username).in_(names))
                                        .order_by(User.username)))
    except SQLAlchemyError as exc:
        db.session.rollback()
        return [Finding(False, "DATABASE_URL",
                        f"база недоступна, учётные записи не проверены ({exc.__class__.__name__})")]
    demo = [u.username for u in users if u.check_password(DEMO_PASSWORD)]
    if not demo:
        return []
    return [Finding(True, "USERS", f"пароль демо «{DEMO_PASSWORD}» у пользователей: {', '.join(demo)} — смените его "
                                   "(/account/password, /admin/users) или отключите их")]
