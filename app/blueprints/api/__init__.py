"""The api blueprint: the ingest API in routes.py (which defines `bp`), the open data API in open_data.py."""
from app.blueprints.api import open_data  # noqa: F401 — registers the open endpoints on `bp`
from app.blueprints.api.routes import bp  # noqa: F401
