"""The user's in-app notifications (SLA warnings and breaches): newest first, unread highlighted."""
from flask import redirect, url_for
from flask_login import current_user, login_required

from app.blueprints.notifications import bp
from app.extensions import db
from app.htmx import render, wants_fragment
from app.models import Notification, utcnow

PAGE_SIZE = 100


@bp.before_request
@login_required
def _login():
    return None


def _context() -> dict:
    items = db.session.scalars(
        db.select(Notification).where(Notification.user_id == current_user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(PAGE_SIZE)).all()
    unread = db.session.scalar(db.select(db.func.count(Notification.id)).where(
        Notification.user_id == current_user.id, Notification.read_at.is_(None)))
    return {"items": items, "unread": unread}


@bp.get("")
def index():
    return render("notifications/index.html", "notifications/_list.html", **_context())


@bp.post("/read")
def mark_read():
    db.session.execute(db.update(Notification)
                       .where(Notification.user_id == current_user.id, Notification.read_at.is_(None))
                       .values(read_at=utcnow()))
    db.session.commit()
    if wants_fragment():
        return render("notifications/index.html", "notifications/_list.html", **_context())
    return redirect(url_for("notifications.index"))
