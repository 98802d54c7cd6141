"""The queue blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.queue.routes import bp  # noqa: F401
