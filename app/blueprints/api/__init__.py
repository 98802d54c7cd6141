"""The api blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.api.routes import bp  # noqa: F401
