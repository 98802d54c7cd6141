"""The public blueprint: its views are in routes.py (which defines `bp`)."""
from app.blueprints.public.routes import bp  # noqa: F401
