"""Participants of «Открытый муниципалитет» as the staff manage them (issue 12): the list with its filters,
creating and editing a participant (names, direction, site, logo, the SM-specialist, flags, slug).

A participant is an institution (the same rows executors belong to). Who may do what is in services/access
(`can_manage_participants`); the accounts of a participant are in services/accounts/registry.py.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import func, or_, select

from app.extensions import db
from app.models import Account, Direction, Institution, User
from app.services import access
from app.services.errors import NotFound, ValidationFailed
from app.services.files import sniff

SLUG = re.compile(r"[a-z0-9_-]{2,80}")  # fullmatch: no trailing newline
LOGO_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}  # never SVG: it can carry a script
LOGO_DIR = "participants"
LIST_LIMIT = 500


@dataclass
class Filters:
    q: str = ""
    direction_id: int | None = None
    receives: bool | None = None  # None: all; True / False: only those that do / do not receive appeals


def directions() -> list[Direction]:
    return list(db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.name)))


def listing(actor: User, filters: Filters) -> list[tuple[Institution, int]]:
    """Participants matching the filters with their number of active accounts, by short name."""
    access.ensure_can_manage_participants(actor)
    counts = (select(Account.institution_id, func.count(Account.id).label("n")).where(Account.is_active.is_(True))
              .group_by(Account.institution_id).subquery())
    stmt = (select(Institution, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.institution_id == Institution.id)
            .order_by(Institution.short_name, Institution.id).limit(LIST_LIMIT))
    q = (filters.q or "").strip()[:100]
    if q:
        like = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(func.lower(Institution.name).like(like, escape="\\"),
                              func.lower(Institution.short_name).like(like, escape="\\"),
                              Institution.slug.like(like, escape="\\")))
    if filters.direction_id is not None:
        stmt = stmt.where(Institution.direction_id == filters.direction_id)
    if filters.receives is not None:
        stmt = stmt.where(Institution.receives_appeals.is_(filters.receives))
    return [(inst, n) for inst, n in db.session.execute(stmt).all()]


def get(institution_id: int | None) -> Institution:
    inst = db.session.get(Institution, institution_id) if institution_id is not None else None
    if inst is None:
        raise NotFound("Участник не найден")
    return inst


# --- validation: every bounded column is checked here, so a long value is a message, never a 500 ----------------
def _text(value, field: str, label: str, limit: int, required: bool = False) -> str | None:
    value = " ".join(str(value or "").split())
    if required and not value:
        raise ValidationFailed("Заполните поле «%(label)s»", field=field, label=label)
    if len(value) > limit:
        raise ValidationFailed("Поле «%(label)s»: не больше %(n)s символов", field=field, label=label, n=limit)
    return value or None


def valid_site(value) -> str | None:
    """An http(s) address of the participant's site, or None when empty."""
    value = str(value or "").strip()
    if not value:
        return None
    if len(value) > 300:
        raise ValidationFailed("Сайт: не больше %(n)s символов", field="site", n=300)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in value):
        raise ValidationFailed("Сайт: укажите адрес, начинающийся с http:// или https://", field="site")
    return value


def valid_slug(value, institution: Institution | None) -> str | None:
    value = str(value or "").strip().lower()
    if not value:
        return None  # a new participant gets one from its short name (models/org.py), an edited keeps its own
    if not SLUG.fullmatch(value):
        raise ValidationFailed(
            "Адрес страницы: от 2 до 80 латинских букв, цифр, дефисов и подчёркиваний, например mbou-sosh-3",
            field="slug")
    taken = db.session.scalar(select(Institution.id).where(Institution.slug == value))
    if taken is not None and (institution is None or taken != institution.id):
        raise ValidationFailed("Адрес страницы «%(slug)s» уже занят другим участником", field="slug", slug=value)
    return value


@dataclass
class ParticipantData:
    name: str = ""
    short_name: str = ""
    direction_id: int | None = None
    address: str = ""
    site: str = ""
    smm_name: str = ""
    smm_contacts: str = ""
    receives_appeals: bool = True
    public_feedback: bool = True
    slug: str = ""
    posts_need_approval: bool = False  # issue 13: the participant's posts wait for the press service


def _apply(inst: Institution, data: ParticipantData) -> None:
    name = _text(data.name, "name", "Официальное название", 300, required=True)
    short = _text(data.short_name, "short_name", "Краткое название", 120) or (name or "")[:120]
    if data.direction_id is None or db.session.get(Direction, data.direction_id) is None:
        raise ValidationFailed("Выберите направление", field="direction_id")
    same_name = db.session.scalar(select(Institution.id).where(func.lower(Institution.name) == name.lower()))
    if same_name is not None and same_name != inst.id:
        raise ValidationFailed("Участник «%(name)s» уже есть", field="name", name=name)
    slug = valid_slug(data.slug, inst if inst.id else None)
    inst.name, inst.short_name, inst.direction_id = name, short, data.direction_id
    inst.address = _text(data.address, "address", "Адрес", 300)
    inst.site = valid_site(data.site)
    inst.smm_name = _text(data.smm_name, "smm_name", "SMM-специалист", 200)
    inst.smm_contacts = _text(data.smm_contacts, "smm_contacts", "Контакты SMM-специалиста", 300)
    inst.receives_appeals = bool(data.receives_appeals)
    inst.public_feedback = bool(data.public_feedback)
    inst.posts_need_approval = bool(data.posts_need_approval)
    if slug:
        inst.slug = slug


def create(actor: User, data: ParticipantData) -> Institution:
    access.ensure_can_manage_participants(actor)
    inst = Institution()
    _apply(inst, data)
    db.session.add(inst)
    db.session.flush()
    return inst


def update(actor: User, inst: Institution, data: ParticipantData) -> None:
    access.ensure_can_manage_participants(actor)
    _apply(inst, data)


# --- the logo ----------------------------------------------------------------------------------------------------
def read_upload(stream, limit: int) -> bytes:
    """At most `limit` bytes of an uploaded file; a larger one is refused (read no further than that)."""
    content = stream.read(limit + 1)
    if len(content) > limit:
        raise ValidationFailed("Логотип слишком большой: не больше %(n)s КБ", field="logo", n=limit // 1024)
    return content


def set_logo(actor: User, inst: Institution, content: bytes, upload_dir: str) -> str | None:
    """Store a PNG, JPEG or WebP logo (checked by its first bytes, whatever its name says) under
    UPLOAD_DIR/participants/ and record it; returns the previous file's relative path (the caller removes it
    after the commit) or None."""
    access.ensure_can_manage_participants(actor)
    mime = sniff(content or b"")
    if not content or mime not in LOGO_TYPES:
        raise ValidationFailed("Логотип: только изображение PNG, JPEG или WebP", field="logo")
    folder = os.path.join(upload_dir, LOGO_DIR)
    os.makedirs(folder, exist_ok=True)
    relative = f"{LOGO_DIR}/{inst.id}-{secrets.token_hex(8)}.{LOGO_TYPES[mime]}"
    with open(os.path.join(upload_dir, relative), "wb") as fh:
        fh.write(content)
    previous, inst.logo_path, inst.logo_type = inst.logo_path, relative, mime
    return previous


def clear_logo(actor: User, inst: Institution) -> str | None:
    access.ensure_can_manage_participants(actor)
    previous, inst.logo_path, inst.logo_type = inst.logo_path, None, None
    return previous


def remove_file(upload_dir: str, relative: str | None) -> None:
    """Delete a replaced logo (after the commit that replaced it); a missing file is no error."""
    if not relative or not relative.startswith(f"{LOGO_DIR}/") or ".." in relative:
        return
    try:
        os.remove(os.path.join(upload_dir, relative))
    except OSError:
        pass


def logo(inst: Institution, upload_dir: str) -> tuple[bytes, str]:
    """The participant's logo bytes and their checked type; NotFound when it has none (or the file is gone)."""
    if not inst.logo_path or inst.logo_type not in LOGO_TYPES:
        raise NotFound("Логотипа нет")
    try:
        with open(os.path.join(upload_dir, inst.logo_path), "rb") as fh:
            content = fh.read()
    except OSError:
        raise NotFound("Логотипа нет") from None
    if sniff(content) != inst.logo_type:
        raise NotFound("Логотипа нет")
    return content, inst.logo_type
