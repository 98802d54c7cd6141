"""Application factory."""
from __future__ import annotations

from pathlib import Path

from flask import Flask
from jinja2 import StrictUndefined

from config import Config


def create_app(config_class: type = Config) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_class)
    from app import security

    security.ensure_secret_key(app)  # refuses to start without a real key outside debug and tests
    security.quiet_url_loggers()  # no bot token in a log line at INFO
    app.url_map.converters["int"] = security.DbIntConverter  # ids beyond PostgreSQL integer: 404
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.jinja_env.undefined = StrictUndefined
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    register_extensions(app)
    register_blueprints(app)

    from app import cli, errors, jobs, plans, templating
    from app.services import notifications, refdata

    jobs.register()  # enqueue_after_commit's hook on every session
    plans.register()  # a transaction that changed nothing is committed, not rolled back: prepared statements kept
    notifications.register()  # the top bar's unread count, read with the user, dropped on any write
    refdata.register()  # lists built after a write in the same transaction are not kept
    errors.register(app)
    security.register(app)
    templating.register(app)
    cli.register(app)
    return app


def register_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (one metadata for Alembic)
    from app.extensions import SessionInterface, babel, csrf, db, htmx, login_manager, migrate
    from app.services import notifications

    app.session_interface = SessionInterface()  # the cookie's serializer built once, not per request
    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"),
                     render_as_batch=True)
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=lambda: app.config["LANGUAGE"],
                   timezone_selector=lambda: app.config["CITY_TZ"])
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(session_id: str):
        """«<id>:<session version>»: a session from before a logout, deactivation or new password is refused."""
        user_id, _, version = str(session_id).partition(":")
        if not (user_id.isascii() and user_id.isdigit() and version.isascii() and version.isdigit()) \
                or int(user_id) > 2**31 - 1:
            return None
        user = notifications.load_user_with_unread(int(user_id))  # one statement: the user and the top bar's count
        if user is None or not user.is_active or str(user.session_version or 1) != version:
            return None
        return user


def register_blueprints(app: Flask) -> None:
    from app.blueprints.admin import bp as admin_bp
    from app.blueprints.api import bp as api_bp
    from app.blueprints.auth import bp as auth_bp
    from app.blueprints.board import bp as board_bp
    from app.blueprints.control import bp as control_bp
    from app.blueprints.notifications import bp as notifications_bp
    from app.blueprints.participants import bp as participants_bp
    from app.blueprints.participants_admin import bp as participants_admin_bp
    from app.blueprints.public import bp as public_bp
    from app.blueprints.publishing import bp as publishing_bp
    from app.blueprints.qr import bp as qr_bp
    from app.blueprints.queue import bp as queue_bp
    from app.blueprints.rating import bp as rating_bp
    from app.blueprints.stats import bp as stats_bp
    from app.blueprints.tickets import bp as tickets_bp
    from app.blueprints.webhooks import bp as webhooks_bp
    from app.blueprints.workspace import bp as workspace_bp

    for bp in (auth_bp, queue_bp, tickets_bp, workspace_bp, webhooks_bp, admin_bp, public_bp, api_bp,
               notifications_bp, control_bp, board_bp, qr_bp, stats_bp, participants_admin_bp, participants_bp,
               publishing_bp, rating_bp):
        app.register_blueprint(bp)
