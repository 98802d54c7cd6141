"""The webhooks blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.webhooks.routes import bp  # noqa: F401
