"""`flask db upgrade` on an empty database gives exactly the models' schema; downgrade and upgrade again work."""
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from config import TestConfig


@pytest.fixture
def empty_database(app, tmp_path):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        name = f"{url.database}_migrations"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"


def _diff(fresh_app):
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, db.metadata)


@pytest.mark.no_db_rollback
def test_upgrade_matches_models_and_downgrade_round_trips(empty_database):
    cfg_class = type("MigrationConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_database})
    fresh = create_app(cfg_class)
    with fresh.app_context():
        alembic_cfg = fresh.extensions["migrate"].migrate.get_config()
        command.upgrade(alembic_cfg, "head")
        assert _diff(fresh) == []
        tables = set(inspect(db.engine).get_table_names())
        assert {"tickets", "ticket_events", "messages", "replies", "control_orders", "users"} <= tables

        command.downgrade(alembic_cfg, "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}

        command.upgrade(alembic_cfg, "head")
        assert _diff(fresh) == []
        db.engine.dispose()


@pytest.mark.no_db_rollback
def test_the_embedded_default_sqlite_upgrades_and_round_trips(tmp_path):
    """`make run` migrates a SQLite file: every migration must work there too (batch mode for ALTERs) — one
    that only worked on PostgreSQL once broke the first run."""
    cfg_class = type("SqliteMigrationConfig", (TestConfig,),
                     {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'embedded.db'}"})
    fresh = create_app(cfg_class)
    with fresh.app_context():
        alembic_cfg = fresh.extensions["migrate"].migrate.get_config()
        command.upgrade(alembic_cfg, "head")
        tables = set(inspect(db.engine).get_table_names())
        assert {"tickets", "streets", "routing_models", "repeat_suggestions", "site_settings"} <= tables
        columns = {c["name"] for c in inspect(db.engine).get_columns("tickets")}
        assert {"street_id", "house", "imported", "import_key", "route_suggestion"} <= columns
        command.downgrade(alembic_cfg, "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        command.upgrade(alembic_cfg, "head")
        db.engine.dispose()
