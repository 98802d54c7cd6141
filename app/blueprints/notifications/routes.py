"""The user's in-app notifications (SLA warnings and breaches): newest first, unread highlighted."""
from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required

from app.extensions import db
from app.htmx import render, wants_fragment
from app.models import Notification, utcnow
from app.services import notifications, staff_telegram

bp = Blueprint("notifications", __package__, url_prefix="/notifications")


PAGE_SIZE = 100


@bp.before_request
@login_required
def _login():
    return None


def _context() -> dict:
    items = db.session.scalars(
        db.select(Notification).where(Notification.user_id == current_user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(PAGE_SIZE)).all()
    code = current_user.telegram_link_code
    return {"items": items, "unread": notifications.unread_count(current_user), "tg_code": code,
            "tg_link": staff_telegram.deep_link(code) if code else None}


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


@bp.post("/telegram")
def telegram_link():
    """A one-time code for `/start u<code>` in the city's bot: notifications then go to that chat too."""
    staff_telegram.new_link_code(current_user)
    db.session.commit()
    return redirect(url_for("notifications.index"))


@bp.post("/telegram/off")
def telegram_unlink():
    staff_telegram.unlink(current_user)
    db.session.commit()
    return redirect(url_for("notifications.index"))
