"""The board blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.board.routes import bp  # noqa: F401
