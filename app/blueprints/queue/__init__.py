from flask import Blueprint

bp = Blueprint("queue", __name__, url_prefix="/queue")

from app.blueprints.queue import routes  # noqa: E402,F401
