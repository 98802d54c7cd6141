"""The weekly digest of the board for the head of city: last week (Monday to Sunday) against the week before,
to the head's linked Telegram chat and e-mail (with the board as an XLSX attachment).

Sent once per user per week: the digest is a Notification (kind "digest"), so the job can run every hour and
catch up after a pause. The e-mail and the Telegram push leave through the outbox (replies.mail_to_staff,
replies.push_to_staff): retried with backoff like every outbound message, failures shown with their reason.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import exists, select

from app.extensions import db
from app.formatting import fmt_value
from app.models import Notification, User, utcnow
from app.services import board, mailer, replies
from app.services.board import export as board_export
from app.services.board import worklist
from app.urls import external_url

RECIPIENT_ROLES = ("head",)
SEND_FROM = time(8, 0)  # Monday, city time


def last_week(now: datetime) -> board.Period:
    monday = board.today(now) - timedelta(days=board.today(now).weekday())
    return board.Period("week", monday - timedelta(days=7), monday - timedelta(days=1))


def due_from(now: datetime) -> datetime:
    """This week's sending moment: Monday 08:00 city time."""
    tz = board.city_tz()
    monday = board.today(now) - timedelta(days=board.today(now).weekday())
    return datetime.combine(monday, SEND_FROM, tz)


def _line(label: str, cur, prev, kind: str) -> str:
    return f"• {label}: {fmt_value(cur, kind)} (неделей ранее {fmt_value(prev, kind)})"


def render_text(data: dict, items: list, period: board.Period) -> str:
    c, p = data["current"], data["previous"]
    lines = [f"Проблемные вопросы за неделю {period.start:%d.%m} — {period.end:%d.%m.%Y}",
             _line("Поступило обращений", c["received"], p["received"], "int"),
             _line("Решено в срок", c["sla_share"], p["sla_share"], "pct"),
             _line("Медиана решения" + (f" (≈ ±{c['median_error'] * 100:.1f} %)".replace(".", ",")
                                        if c.get("median_error") else ""),
                   c["median_resolution"], p["median_resolution"], "duration"),
             _line("Среднее время ответа (цель ≤ 8 дн.)", c["mean_resolution_days"], p["mean_resolution_days"],
                   "days"),
             _line("Оценок 4–5 (цель ≥ 60 %)", c["good_share"], p["good_share"], "pct"),
             _line("Возвращено жителями", c["reopened_share"], p["reopened_share"], "pct"),
             f"• Сейчас в работе {data['now']['open']}, из них просрочено {data['now']['overdue']}"]
    if items:
        lines.append("")
        lines.append("Требует внимания:")
        lines += [f"{i}. {item.kind_label}: {item.title} — {item.detail}" for i, item in enumerate(items, 1)]
    ranked = data["institutions"]["ranked"]
    if ranked:
        lines.append("")
        lines.append("Лучшие по решению в срок: " + ", ".join(r["name"] for r in ranked[:3]))
        if len(ranked) > 3:
            lines.append("Отстают: " + ", ".join(r["name"] for r in ranked[-3:][::-1]))
    return "\n".join(lines)


def _recipients() -> list[User]:
    return list(db.session.scalars(select(User).where(User.role.in_(RECIPIENT_ROLES), User.is_active_user.is_(True))
                                   .order_by(User.id)))


def _sent_this_week(user: User, since: datetime) -> bool:
    return bool(db.session.scalar(select(exists().where(Notification.user_id == user.id, Notification.kind == "digest",
                                                        Notification.created_at >= since))))


def send_weekly(now: datetime | None = None) -> dict:
    """Send last week's digest to every head who has not had it this week (from Monday 08:00). The caller
    commits (the job does)."""
    now = now or utcnow()
    since = due_from(now)
    result = {"sent": 0, "mailed": 0, "failed": 0}
    if now < since:
        return result
    users = [u for u in _recipients() if not _sent_this_week(u, since)]
    if not users:
        return result
    period = last_week(now)
    viewer = board._Everyone()
    data = board.report(viewer, period, board.Scope(), now)
    items = worklist.worklist(viewer, period, board.Scope(), limit=5, now=now)
    text = render_text(data, items, period)
    link = external_url("board.index", period="custom", **{"from": f"{period.start:%d.%m.%Y}",
                                                            "to": f"{period.end:%d.%m.%Y}"})
    if link.startswith("http"):  # without PUBLIC_BASE_URL a job knows no address: no link
        text += f"\n\nДоска: {link}"
    subject = (f"{current_app.config['CITY_NAME']}: проблемные вопросы за неделю "
               f"{period.start:%d.%m}–{period.end:%d.%m.%Y}")
    mail_on = mailer.is_configured()
    for user in users:
        note = Notification(user_id=user.id, kind="digest", text=text, created_at=now)
        db.session.add(note)
        if user.email and mail_on:  # through the outbox: retried with backoff, the workbook built as it goes
            replies.mail_to_staff(note, user.email, subject, now=now, attachments=[{
                "builder": "app.services.board.digest.workbook", "args": [user.id, now.isoformat()],
                "filename": f"Проблемные вопросы {period.start:%d.%m.%Y}.xlsx",
                "mime": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}])
            result["mailed"] += 1
        if user.telegram_chat_id:
            replies.push_to_staff(note, now)
        result["sent"] += 1
    return result



def workbook(user_id: int, now_iso: str) -> bytes:
    """The board of the week before `now` as XLSX, as `user` may see it (the digest's attachment, built by the
    outbox when the e-mail goes)."""
    now = datetime.fromisoformat(now_iso)
    period = last_week(now)
    viewer = board._Everyone()
    data = board.report(viewer, period, board.Scope(), now)
    items = worklist.worklist(viewer, period, board.Scope(), limit=5, now=now)
    state = {"data": data, "period": period, "scope": board.Scope()}
    return board_export.build(db.session.get(User, user_id), state, items, {"directions": [], "institutions": []})
