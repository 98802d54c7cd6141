"""The admin blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.admin.routes import bp  # noqa: F401
