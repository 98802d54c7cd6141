from flask import abort, current_app, request
from flask_login import current_user, login_required

from app.blueprints.workspace import bp
from app.htmx import render
from app.models import OPEN_STATUSES
from app.services import queue


@bp.get("")
@login_required
def index():
    """The executor's institution: its open tickets, the most urgent (nearest deadline) first."""
    if current_user.role != "executor" or current_user.institution_id is None:
        abort(403)
    f = queue.QueueFilters(statuses=list(OPEN_STATUSES), sort="due")
    page = queue.page(current_user, f, cursor=request.args.get("cursor") or None,
                      limit=current_app.config["QUEUE_PAGE_SIZE"])
    return render("workspace/index.html", "workspace/_list.html", page=page,
                  appending=bool(request.args.get("cursor")))
