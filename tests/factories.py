"""Plain factory functions for tests: each makes one row with sensible defaults and flushes."""
from __future__ import annotations

import itertools
from datetime import datetime

from app.extensions import db
from app.models import Account, Category, Direction, Institution, Message, Resident, SlaPolicy, User, utcnow
from app.services import tickets

_seq = itertools.count(1)


def make_direction(name: str | None = None) -> Direction:
    n = next(_seq)
    d = Direction(code=f"dir{n}", name=name or f"Направление {n}", sort_order=n)
    db.session.add(d)
    db.session.flush()
    return d


def make_institution(direction: Direction | None = None, name: str | None = None) -> Institution:
    n = next(_seq)
    name = name or f"Учреждение № {n}"
    inst = Institution(direction=direction or make_direction(), name=name, short_name=name[:120])
    db.session.add(inst)
    db.session.flush()
    return inst


def make_policy(first: int = 60, resolution: int = 540, business_hours: bool = True) -> SlaPolicy:
    p = SlaPolicy(name=f"Политика {next(_seq)}", first_response_minutes=first, resolution_minutes=resolution,
                  business_hours=business_hours)
    db.session.add(p)
    db.session.flush()
    return p


def make_category(name: str | None = None, institution: Institution | None = None,
                  policy: SlaPolicy | None = None) -> Category:
    n = next(_seq)
    c = Category(code=f"cat{n}", name=name or f"Рубрика {n}", default_institution=institution,
                 sla_policy=policy or make_policy())
    db.session.add(c)
    db.session.flush()
    return c


def make_user(role: str = "moderator", institution: Institution | None = None, username: str | None = None,
              password: str = "secret") -> User:
    u = User(username=username or f"{role}{next(_seq)}", role=role, full_name=f"Сотрудник {role}",
             institution=institution if role in ("executor", "smm") else None)
    if role in ("executor", "smm") and institution is None:
        u.institution = make_institution()
    u.set_password(password)
    db.session.add(u)
    db.session.flush()
    return u


def make_resident(network: str = "telegram", name: str = "Иван Петров") -> Resident:
    r = Resident(network=network, external_id=str(next(_seq)), display_name=name)
    db.session.add(r)
    db.session.flush()
    return r


def make_ticket(text: str = "Во дворе дома на ул. Ленина, 12 не горит фонарь", *, institution=None, category=None,
                network: str = "vk", status: str | None = None, created_at: datetime | None = None,
                address: str | None = None, priority: str = "normal"):
    resident = make_resident(network)
    msg = Message(network=network, external_id=f"m{next(_seq)}", kind="comment", text=text, resident=resident,
                  received_at=created_at or utcnow())
    db.session.add(msg)
    t = tickets.create_ticket(network=network, summary=text, resident=resident, institution=institution,
                              category=category, messages=[msg], created_at=created_at, address=address,
                              priority=priority)
    if status:
        t.status = status
    db.session.flush()
    return t


def make_account(institution: Institution, network: str = "vk") -> Account:
    n = next(_seq)
    a = Account(institution=institution, network=network, handle=f"acc{n}", url=f"https://example.org/acc{n}")
    db.session.add(a)
    db.session.flush()
    return a
