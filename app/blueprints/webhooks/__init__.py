from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/hooks")

from app.blueprints.webhooks import routes  # noqa: E402,F401
