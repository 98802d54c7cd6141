"""Cross-posting (issue 13): compose, preview, schedule, approve and follow posts to the participants' accounts.
Its views are in routes.py (which defines `bp`)."""
from app.blueprints.publishing.routes import bp  # noqa: F401
