"""The participants blueprint (public directory): its views are in routes.py (which defines `bp`)."""
from app.blueprints.participants.routes import bp  # noqa: F401
