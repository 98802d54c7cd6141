"""The notifications blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.notifications.routes import bp  # noqa: F401
