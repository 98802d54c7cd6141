"""The auth blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.auth.routes import bp  # noqa: F401
