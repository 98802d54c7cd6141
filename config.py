"""Configuration: the only module that reads the environment."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _default_sqlite() -> str:
    return f"sqlite:///{BASE_DIR / 'instance' / 'municipality.db'}"


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _key_from_file(path: str | None) -> str | None:
    """SECRET_KEY_FILE: a file holding the key (`make run` writes a random one into instance/ once)."""
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _normalise_db_url(url: str) -> str:
    # psycopg 3 is the driver we ship; accept plain postgres:// URLs too.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    # No default: outside debug and tests the app refuses to start without a key of 32+ characters
    # (app/security.py). The same value on every web and worker machine.
    SECRET_KEY = _env("SECRET_KEY") or _key_from_file(_env("SECRET_KEY_FILE"))
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(_env("DATABASE_URL", _default_sqlite()))
    # Every checkout pings the connection (one round trip, ≈ 0.1 ms a request): kept, so that a database restart
    # under steady traffic never fails a resident's or a moderator's request (issue 16 measured and kept it).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Behind PgBouncer in transaction mode: DB_PREPARED_STATEMENTS=off (psycopg then never prepares; README)
    if _env("DB_PREPARED_STATEMENTS", "on").lower() in ("off", "0", "no", "false") \
            and SQLALCHEMY_DATABASE_URI.startswith("postgresql"):
        SQLALCHEMY_ENGINE_OPTIONS = {**SQLALCHEMY_ENGINE_OPTIONS, "connect_args": {"prepare_threshold": None}}
    REDIS_URL = _env("REDIS_URL")  # unset: jobs run in-process
    PUBLIC_BASE_URL = _env("PUBLIC_BASE_URL")  # https://om.belogorsk.ru: links in digests and replies from jobs

    CITY_NAME = _env("CITY_NAME", "Белогорск")
    CITY_TZ = _env("CITY_TZ", "Asia/Yakutsk")
    TICKET_PREFIX = _env("TICKET_PREFIX", "БЛГ")
    # Working hours of the city by default: "09:00-13:00,14:00-18:00" Monday to Friday.
    BUSINESS_HOURS = _env("BUSINESS_HOURS", "09:00-13:00,14:00-18:00")

    LANGUAGE = _env("LANGUAGE", "ru")  # ru | en
    BABEL_DEFAULT_LOCALE = LANGUAGE
    BABEL_DEFAULT_TIMEZONE = CITY_TZ

    QUEUE_PAGE_SIZE = int(_env("QUEUE_PAGE_SIZE", "50"))
    QUEUE_POLL_SECONDS = int(_env("QUEUE_POLL_SECONDS", "10"))  # live arrivals in the queue
    BOARD_SNAPSHOT_MAX_AGE = int(_env("BOARD_SNAPSHOT_MAX_AGE", "120"))  # seconds a board snapshot is served
    BOARD_POLL_SECONDS = int(_env("BOARD_POLL_SECONDS", "60"))  # the board refreshes its figures
    BOARD_LONG_SNAPSHOT_MAX_AGE = int(_env("BOARD_LONG_SNAPSHOT_MAX_AGE", "900"))  # the same for a quarter or a year
    BOARD_ROLLUPS = _env("BOARD_ROLLUPS", "1") == "1"  # the board's figures from the daily rollups when built
    BOARD_PREVIOUS_MAX_AGE = int(_env("BOARD_PREVIOUS_MAX_AGE", "3600"))  # seconds the previous period is kept
    # seconds a computed rating (/rating, a direction over a period) is served; this month, quarter and year are
    # recomputed every 10 minutes by the job app.jobs.rating.refresh
    RATING_SNAPSHOT_MAX_AGE = int(_env("RATING_SNAPSHOT_MAX_AGE", "900"))
    # The learned router (issue 15): the nightly job app.jobs.routing.retrain trains when at least this many
    # confirmed (resolved/closed) tickets are new since the current model
    ROUTING_RETRAIN_MIN_NEW = int(_env("ROUTING_RETRAIN_MIN_NEW", "200"))
    # seconds a process keeps routing with the model it loaded before asking whether a newer one is current
    ROUTING_MODEL_CHECK_SECONDS = float(_env("ROUTING_MODEL_CHECK_SECONDS", "5"))
    # Open statistics (/stats, a participant's «Как отвечает жителям»): seconds computed figures are served (the job
    # app.jobs.stats.refresh renews the common ones every 5 min), and fresh computations allowed per minute
    # city-wide (Redis; 0: no bound) — a public page cannot load the database.
    STATS_MAX_AGE = int(_env("STATS_MAX_AGE", "900"))
    STATS_COMPUTE_PER_MINUTE = int(_env("STATS_COMPUTE_PER_MINUTE", "6"))
    LOGIN_MAX_FAILURES = int(_env("LOGIN_MAX_FAILURES", "5"))
    LOGIN_LOCK_MINUTES = int(_env("LOGIN_LOCK_MINUTES", "15"))
    PASSWORD_MIN_LENGTH = int(_env("PASSWORD_MIN_LENGTH", "8"))  # staff passwords set by /admin/users or oneself
    EXPORT_MAX_ROWS = int(_env("EXPORT_MAX_ROWS", "100000"))  # rows per XLSX sheet; the workbook says when cut

    # --- e-mail (the head's weekly digest): MAIL_SERVER empty = e-mail off -------------------------------
    MAIL_SERVER = _env("MAIL_SERVER")
    MAIL_PORT = int(_env("MAIL_PORT", "587"))
    MAIL_USE_TLS = _env("MAIL_USE_TLS", "1").lower() in ("1", "true", "yes", "on")  # STARTTLS
    MAIL_USE_SSL = _env("MAIL_USE_SSL", "0").lower() in ("1", "true", "yes", "on")  # SMTPS (port 465)
    MAIL_USERNAME = _env("MAIL_USERNAME")
    MAIL_PASSWORD = _env("MAIL_PASSWORD")
    MAIL_FROM = _env("MAIL_FROM")  # «Открытый муниципалитет <noreply@city.ru>»; default: MAIL_USERNAME
    MAIL_TIMEOUT = float(_env("MAIL_TIMEOUT", "20"))  # seconds per SMTP operation

    # --- networks: a network whose token is unset is off (the admin page says so) -------------------
    TELEGRAM_BOT_TOKEN = _env("TELEGRAM_BOT_TOKEN")
    TELEGRAM_WEBHOOK_SECRET = _env("TELEGRAM_WEBHOOK_SECRET")
    TELEGRAM_API_URL = _env("TELEGRAM_API_URL", "https://api.telegram.org/bot")  # PTB's base_url form
    TELEGRAM_BOT_USERNAME = _env("TELEGRAM_BOT_USERNAME")  # for t.me links (staff linking); else the bot id
    VK_GROUP_ID = _env("VK_GROUP_ID")
    VK_ACCESS_TOKEN = _env("VK_ACCESS_TOKEN")
    VK_SECRET = _env("VK_SECRET")
    VK_CONFIRMATION = _env("VK_CONFIRMATION")
    VK_API_URL = _env("VK_API_URL", "https://api.vk.com/method")
    MAX_BOT_TOKEN = _env("MAX_BOT_TOKEN")
    MAX_BOT_NAME = _env("MAX_BOT_NAME")  # the bot's nick in max.ru/<name>?start=<code> (participants' QR codes)
    MAX_WEBHOOK_SECRET = _env("MAX_WEBHOOK_SECRET")
    MAX_API_URL = _env("MAX_API_URL", "https://platform-api.max.ru")
    OK_ACCESS_TOKEN = _env("OK_ACCESS_TOKEN")
    OK_APPLICATION_KEY = _env("OK_APPLICATION_KEY")
    OK_APPLICATION_SECRET_KEY = _env("OK_APPLICATION_SECRET_KEY")
    OK_WEBHOOK_SECRET = _env("OK_WEBHOOK_SECRET")  # OK signs nothing: subscribe /hooks/ok?secret=…&group=…
    OK_GROUP_ID = _env("OK_GROUP_ID")
    OK_REST_ACCESS_TOKEN = _env("OK_REST_ACCESS_TOKEN")  # comments are polled through the REST API
    OK_API_URL = _env("OK_API_URL", "https://api.ok.ru")
    INGEST_API_TOKENS = _env("INGEST_API_TOKENS", "")
    APPEAL_LIMIT_PER_HOUR = int(_env("APPEAL_LIMIT_PER_HOUR", "5"))  # web form submissions per address
    APPEAL_LIMIT_PER_DAY = int(_env("APPEAL_LIMIT_PER_DAY", "20"))  # comma-separated tokens for POST /api/v1/messages
    UPLOAD_DIR = _env("UPLOAD_DIR", str(BASE_DIR / "instance" / "uploads"))
    HTTP_TIMEOUT = float(_env("HTTP_TIMEOUT", "10"))
    # Cross-posting (issue 13): threads per network delivering one post's copies (0: one after another).
    PUBLISH_THREADS = int(_env("PUBLISH_THREADS", "4"))
    # …and the seconds after which one job starts no new copy (the rest go in the next job; RQ's job timeout is 180 s).
    PUBLISH_JOB_BUDGET = float(_env("PUBLISH_JOB_BUDGET", "120"))
    # Residents' files whose VK / MAX / OK links expire are copied into UPLOAD_DIR after intake, up to this size.
    ATTACHMENT_STORE = _env("ATTACHMENT_STORE", "1") not in ("0", "false", "no")
    ATTACHMENT_STORE_MAX_BYTES = int(_env("ATTACHMENT_STORE_MAX_BYTES", str(20 * 1024 * 1024)))
    MAX_CONTENT_LENGTH = int(_env("MAX_CONTENT_LENGTH", str(27 * 1024 * 1024)))  # 5 photos of the web form
    WEBHOOK_MAX_BODY = int(_env("WEBHOOK_MAX_BODY", str(1024 * 1024)))  # a platform update is a few KB: 413 beyond
    # Behind nginx or another proxy: how many proxies to trust for X-Forwarded-For/-Proto (rate limits per address).
    TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0"))

    # A burst: messages of one resident in one thread within this many seconds (an album, a photo and then its
    # text) make one appeal; its summary and routing come from the burst's first text, and the acknowledgement
    # is sent once the window has passed (naming the institution once known). 0: acknowledge at once.
    BURST_WINDOW_SECONDS = int(_env("BURST_WINDOW_SECONDS", "120"))
    # «Проблема решена?»: a resolved ticket without the resident's answer is closed after this many days.
    VERDICT_WAIT_DAYS = int(_env("VERDICT_WAIT_DAYS", "7"))
    # Staff Telegram pushes (SLA warnings and breaches, control orders, the digest) wait for the working hours of
    # the recipient's institution (round-the-clock institutions get them at once). 0: push at any hour.
    STAFF_PUSH_WORKING_HOURS_ONLY = _env("STAFF_PUSH_WORKING_HOURS_ONLY", "1") not in ("0", "false", "no", "")

    # --- the participants' network (issue 12) ------------------------------------------------------------
    # Fernet keys (comma-separated; the first encrypts, all decrypt: rotation) for the participants' account
    # tokens and secrets at rest. Unset: derived from SECRET_KEY (flask check-config warns).
    ACCOUNT_SECRETS_KEY = _env("ACCOUNT_SECRETS_KEY")
    COLLECT_EVERY_HOURS = float(_env("COLLECT_EVERY_HOURS", "6"))  # the participants' figures, every N hours
    # A participant's logo (PNG, JPEG or WebP, checked by its bytes) is refused beyond this size.
    PARTICIPANT_LOGO_MAX_BYTES = int(_env("PARTICIPANT_LOGO_MAX_BYTES", str(512 * 1024)))
    # Days a one-time «set your password» link (users created from a CSV, or a new link from /admin/users) lives.
    PASSWORD_LINK_DAYS = int(_env("PASSWORD_LINK_DAYS", "7"))
    # VK service key (app settings) for reading communities' figures (groups.getById, wall.get; 3 requests/s);
    # unset: the city's community token VK_ACCESS_TOKEN (20 requests/s). A community's own token wins.
    VK_SERVICE_TOKEN = _env("VK_SERVICE_TOKEN")

    WTF_CSRF_TIME_LIMIT = None
    # --- sessions and headers (docs/security.md) ----------------------------------------------------------
    PREFERRED_URL_SCHEME = _env("PREFERRED_URL_SCHEME", "http")  # https in production: cookies become Secure
    SESSION_COOKIE_SECURE = _flag(_env("SESSION_COOKIE_SECURE", "1" if PREFERRED_URL_SCHEME == "https" else "0"))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = SESSION_COOKIE_SECURE
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=int(_env("REMEMBER_DAYS", "30")))  # «Запомнить меня»: then log in again
    # A signed session cookie is honoured this long after it was written (the login): a copied cookie, or a staff
    # computer left logged in without «Запомнить меня», does not stay open for Flask's default 31 days.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=int(_env("SESSION_HOURS", "12")))
    # Sites allowed to embed the public pages (/appeal, /status, /participants…, /stats, QR codes; ?embed=1 drops
    # the header) in a frame and to read the open JSON API (/api/v1/participants…) by CORS, space- or
    # comma-separated origins (https://belogorsk.ru). Empty: no page may be framed (frame-ancestors 'none',
    # X-Frame-Options DENY), no CORS.
    EMBED_ALLOWED_ORIGINS = _env("EMBED_ALLOWED_ORIGINS", "")
    TESTING = False


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-only-secret-key-0123456789abcdef"
    # Tests run against TEST_DATABASE_URL (PostgreSQL in CI; the tests drop and rebuild its tables);
    # without it, a SQLite file in instance/.
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(
        _env("TEST_DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'test.db'}")
    )
    REDIS_URL = None  # jobs in-process unless a test asks for the real queue
    STAFF_PUSH_WORKING_HOURS_ONLY = False  # pushes at once whatever the wall clock; tests of holding turn it on
    BURST_WINDOW_SECONDS = 0  # acknowledged at once, unless a test is about bursts (tests/test_intake_rules.py)
    ATTACHMENT_STORE = False  # no fetching of platform links unless a test serves them locally
    MAIL_SERVER = None  # e-mail off unless a test starts the local SMTP server (tests/smtp_support.py)
    WTF_CSRF_ENABLED = False
    LOGIN_MAX_FAILURES = 3
    PUBLISH_THREADS = 0  # in-process jobs share the test's one connection: copies one after another
    ROUTING_MODEL_CHECK_SECONDS = 0  # each test's rolled-back models: always ask the database which is current
