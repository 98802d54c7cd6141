"""The workspace blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.workspace.routes import bp  # noqa: F401
