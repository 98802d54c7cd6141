from flask import Blueprint

bp = Blueprint("control", __name__, url_prefix="/control")

from app.blueprints.control import routes  # noqa: E402,F401
