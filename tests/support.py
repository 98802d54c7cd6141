"""Helpers shared by tests that commit for real (browser, worker processes)."""
from sqlalchemy import text

from app.extensions import db

# reference data seeded by the migrations (the production calendar's exceptions, the data versions' counters)
KEEP = {"calendar_days", "data_versions"}


def wipe_tables() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables) if t.name not in KEEP]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))
    db.session.commit()
