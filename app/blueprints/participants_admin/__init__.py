"""The staff's «Участники» section (issue 12): participants (admin, press) and their accounts (also smm).
Its views are in routes.py (which defines `bp`)."""
from app.blueprints.participants_admin.routes import bp  # noqa: F401
