"""QR codes of a participant and its printable poster: views in routes.py (which defines `bp`)."""
from app.blueprints.qr.routes import bp  # noqa: F401
