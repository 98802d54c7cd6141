"""Demo control orders (поручения) of the head: a handful in every state, on demo tickets, through the real
service (app/services/control.py) with historical moments. Idempotent: nothing is added when the demo head
has issued any order already."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.models import ControlOrder, Ticket, TicketEvent, User, utcnow
from app.services import control

# (state to reach, instruction, the report, days to the deadline from now; None: late, before now)
PLANS = [
    ("issued", "Проверить жалобы жителей и доложить о принятых мерах.", None, 6),
    ("in_progress", "Устранить неисправность и сообщить жителю срок работ.", None, 3),
    ("reported", "Организовать выезд специалиста на место, приложить акт осмотра.",
     "Выезд проведён, акт осмотра составлен, работы включены в план на текущую неделю.", 2),
    ("done", "Провести внеплановую проверку и устранить нарушение.",
     "Нарушение устранено, житель уведомлён, фотофиксация в деле.", 4),
    ("cancelled", "Подготовить справку о причинах повторных обращений.", None, 10),
    ("issued", "Срочно восстановить работу и доложить главе.", None, None),
]


def _last_event_at(ticket_id: int) -> datetime:
    return db.session.scalar(select(func.max(TicketEvent.created_at)).where(TicketEvent.ticket_id == ticket_id))


def seed_control_orders(users: dict[str, User]) -> int:
    """Add the demo orders unless the demo head has issued some already; returns how many were added."""
    head, executor = users.get("head"), users.get("executor")
    if head is None or db.session.scalar(select(func.count(ControlOrder.id))
                                         .where(ControlOrder.issued_by_id == head.id)):
        return 0
    now = utcnow()
    candidates = db.session.scalars(select(Ticket).where(
        Ticket.status.in_(("assigned", "in_progress")), Ticket.institution_id.isnot(None),
        Ticket.on_control.is_(False)).order_by(Ticket.id)).all()
    if executor is not None:  # the demo executor's own tickets first
        candidates.sort(key=lambda t: t.institution_id != executor.institution_id)
    old = [t for t in candidates if _last_event_at(t.id) <= now - timedelta(days=3)]
    made = 0
    used: set[int] = set()
    for state, instruction, report, days in PLANS:
        pool = old if days is None else candidates
        ticket = next((t for t in pool if t.id not in used), None)
        if ticket is None:
            continue
        used.add(ticket.id)
        at = min(_last_event_at(ticket.id) + timedelta(minutes=20), now)
        if days is None:
            due, at = at + timedelta(days=1), at  # late: the deadline has passed
        else:
            due = now + timedelta(days=days)
        institution_id = ticket.institution_id
        if executor is not None and state in ("issued", "in_progress", "reported") and days is not None:
            institution_id = executor.institution_id  # the demo executor has open orders in /my
        order = control.issue(head, instruction=instruction, institution_id=institution_id, due=due,
                              ticket=ticket, now=at)
        steps = {"issued": [], "in_progress": ["accept"], "reported": ["accept", "report"],
                 "done": ["accept", "report", "approve"], "cancelled": ["cancel"]}[state]
        for step in steps:
            at = min(at + timedelta(hours=2), now)
            actor = head if step in ("approve", "cancel") else executor_for(order, executor) or head
            text = report if step == "report" else ("Вопрос решается в рамках другого поручения"
                                                    if step == "cancel" else None)
            control.act(order, step, actor, text=text, now=at)
        db.session.flush()
        ticket.updated_at = at  # the ticket's last change is its last timeline event
        made += 1
    return made


def executor_for(order: ControlOrder, executor: User | None) -> User | None:
    """Who acts for the institution: the demo executor on their own institution's orders, otherwise the demo
    moderator on the institution's behalf (the service allows moderators and admins to)."""
    if executor is not None and executor.institution_id == order.institution_id:
        return executor
    return db.session.scalar(select(User).where(User.role.in_(("moderator", "admin"))).order_by(User.id))
