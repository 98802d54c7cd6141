"""The rating's monthly digest to the head (issue 14, item 4): last month's top three of each direction and the
laggards (no posts for 30 days, audience falling), through the same channels as the weekly board digest — an
in-app Notification (kind "rating_digest", which also makes it once per head per month), Telegram push and
e-mail through the outbox. Sent from the 1st of the month 08:00 city time; the job runs hourly and catches up.
The month's rating is the frozen one (frozen here if the daily job has not yet)."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import exists, select

from app.extensions import db
from app.models import Account, Direction, Institution, Notification, Post, User, utcnow
from app.services import mailer, replies
from app.services.board.periods import Period, city_tz
from app.services.board.periods import today as city_today
from app.services.rating import frozen

RECIPIENT_ROLES = ("head",)
KIND = "rating_digest"
SEND_FROM = time(8, 0)  # the 1st of the month, city time
SILENT_DAYS = 30
MONTHS = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь", "ноябрь",
          "декабрь")


def due_from(now: datetime) -> datetime:
    return datetime.combine(city_today(now).replace(day=1), SEND_FROM, city_tz())


def silent(now: datetime) -> set[int]:
    """Active participants without a live post in the last SILENT_DAYS days (or never)."""
    since = datetime.combine(city_today(now) - timedelta(days=SILENT_DAYS), time(0), city_tz())
    posted = (select(Account.institution_id).join(Post, Post.account_id == Account.id)
              .where(Account.is_active, Post.deleted_at.is_(None), Post.published_at >= since)
              .group_by(Account.institution_id))
    return set(db.session.scalars(select(Institution.id).where(Institution.is_active,
                                                               Institution.id.not_in(posted))))


def rating_digest(period: Period, now: datetime | None = None) -> str:
    """The digest's text for a closed month (quarter, year): per direction the top three with their score, then
    the laggards — no posts for SILENT_DAYS days (as of `now`), audience falling over the period."""
    now = now or utcnow()
    names = dict(db.session.execute(select(Institution.id, Institution.short_name)).all())
    quiet = silent(now)
    label = (f"{MONTHS[period.start.month - 1]} {period.start.year}" if period.kind == "month"
             else f"{period.start:%d.%m.%Y} — {period.end:%d.%m.%Y}")
    lines = [f"Рейтинг участников за {label}"]
    for direction in db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id)):
        rows = frozen.frozen_or_live(direction.id, period, now)["rows"]
        if not rows:
            continue
        lines += ["", f"{direction.name}:"]
        top = [r for r in rows if r["place"] is not None and r["place"] <= 3]
        lines += [f"  {r['place']}. {names.get(r['institution_id'], r['institution_id'])} — "
                  f"{r['score']:.1f} балла" for r in top] or ["  никто не набрал данных для места"]
        here = {r["institution_id"] for r in rows}
        no_posts = sorted(names[i] for i in here & quiet)
        falling = sorted(names[r["institution_id"]] for r in rows if (r["figures"].get("growth") or 0) < 0)
        if no_posts:
            lines.append(f"  Нет постов {SILENT_DAYS} дней: " + ", ".join(no_posts))
        if falling:
            lines.append("  Аудитория падает: " + ", ".join(falling))
    return "\n".join(lines)


def _sent_since(user: User, since: datetime) -> bool:
    return bool(db.session.scalar(select(exists().where(Notification.user_id == user.id, Notification.kind == KIND,
                                                        Notification.created_at >= since))))


def send_monthly(now: datetime | None = None) -> dict:
    """Last month's rating digest to every head who has not had it this month (from the 1st, 08:00). The caller
    commits (the job does)."""
    now = now or utcnow()
    since = due_from(now)
    result = {"sent": 0, "mailed": 0}
    if now < since:
        return result
    users = [u for u in db.session.scalars(select(User).where(User.role.in_(RECIPIENT_ROLES),
                                                              User.is_active_user.is_(True)).order_by(User.id))
             if not _sent_since(u, since)]
    if not users:
        return result
    period = frozen.last_closed("month", now)
    frozen.freeze_closed(now)  # the digest shows the frozen month, the one a decision is taken on
    text = rating_digest(period, now)
    subject = f"{current_app.config['CITY_NAME']}: рейтинг участников за {MONTHS[period.start.month - 1]} " \
              f"{period.start.year}"
    mail_on = mailer.is_configured()
    for user in users:
        note = Notification(user_id=user.id, kind=KIND, text=text, created_at=now)
        db.session.add(note)
        if user.email and mail_on:
            replies.mail_to_staff(note, user.email, subject, now=now)
            result["mailed"] += 1
        if user.telegram_chat_id:
            replies.push_to_staff(note, now)
        result["sent"] += 1
    db.session.flush()
    return result


__all__ = ["rating_digest", "send_monthly", "silent"]
