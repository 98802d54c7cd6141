"""The open statistics blueprint (/stats): its views are in routes.py (which defines `bp`)."""
from app.blueprints.stats.routes import bp  # noqa: F401
