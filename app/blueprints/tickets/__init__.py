"""The tickets blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.tickets.routes import bp  # noqa: F401
