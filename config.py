"""Configuration: the only module that reads the environment."""
from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _default_sqlite() -> str:
    return f"sqlite:///{BASE_DIR / 'instance' / 'municipality.db'}"


def _normalise_db_url(url: str) -> str:
    # psycopg 3 is the driver we ship; accept plain postgres:// URLs too.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = _env("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(_env("DATABASE_URL", _default_sqlite()))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    REDIS_URL = _env("REDIS_URL")  # unset: jobs run in-process

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
    LOGIN_MAX_FAILURES = int(_env("LOGIN_MAX_FAILURES", "5"))
    LOGIN_LOCK_MINUTES = int(_env("LOGIN_LOCK_MINUTES", "15"))

    WTF_CSRF_TIME_LIMIT = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    TESTING = False


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test"
    # Tests run against TEST_DATABASE_URL (PostgreSQL in CI; the tests drop and rebuild its tables);
    # without it, a SQLite file in instance/.
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(
        _env("TEST_DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'test.db'}")
    )
    REDIS_URL = None  # jobs in-process unless a test asks for the real queue
    WTF_CSRF_ENABLED = False
    LOGIN_MAX_FAILURES = 3
