"""The control blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.control.routes import bp  # noqa: F401
