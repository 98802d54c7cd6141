"""The one place for publication rules (issue 13): who may publish where, composing, editing, cancelling and
approving a post. The page (blueprints/publishing) and `flask posts publish` (cli_posts.py) both go through here.

What happens to each account's copy is the outbox's (outbox.py): this module calls only its contract —
release, cancel, resend, apply_edit, apply_delete. Functions here never commit: the caller does (the outbox's
apply_edit / apply_delete commit themselves, as their contract says).
"""
from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Account, Delivery, Direction, Institution, Notification, Publication, PublicationPhoto, User
from app.models.base import utcnow
from app.services import access
from app.services.errors import InvalidTransition, NotAllowed, NotFound, ValidationFailed
from app.services.files import clean_name, sniff
from app.services.publishing import limits, outbox

NETWORKS = limits.NETWORKS  # the networks the app publishes to
PHOTO_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
PHOTO_MAX_BYTES = 10 * 1024 * 1024
PHOTOS_MAX = limits.COMPOSE_PHOTOS_MAX
PHOTO_DIR = "publications"
TEXT_MAX = 50_000  # far above every network's limit (the plan says what each will take); bounds junk input
KEY_MAX = 120  # Publication.key
REASON_MAX = 2000
NAME_MAX = 200  # PublicationPhoto.original_name
EDITABLE = ("draft", "awaiting_approval", "rejected", "scheduled")  # before anything went out
NOT_GONE_OUT = ("waiting", "scheduled", "refused", "cancelled")  # delivery states of a copy that never left
PUBLISHED = ("publishing", "done")
ACTIVE_DELIVERY = ("scheduled", "sending")  # the post page polls while any copy is in one of these


@dataclass
class Upload:
    """A photo as it came: the user's file name (only shown, never used on disk) and its bytes."""
    filename: str
    content: bytes


@dataclass
class StoredPhoto:
    path: str  # relative to UPLOAD_DIR
    content_type: str
    size: int
    original_name: str
    digest: str = ""


@dataclass
class Preview:
    """What the compose page shows: for each chosen network its plan and the accounts it goes to."""
    plans: dict[str, limits.Plan] = field(default_factory=dict)
    accounts: dict[str, list[Account]] = field(default_factory=dict)
    error: str | None = None  # the text itself cannot be published (the sentence «Опубликовать» would give)


# --- where a user may publish ---------------------------------------------------------------------------------
def _publishable():
    return select(Account).join(Institution, Account.institution_id == Institution.id).where(
        Account.is_active.is_(True), Institution.is_active.is_(True), Account.network.in_(NETWORKS))


def targets(user: User | None) -> list[Account]:
    """The accounts `user` may publish to: smm — its participant's active accounts in Telegram, VK, OK and MAX;
    press and admin — every participant's; anyone else none. Ordered by participant, network, title."""
    if not access.can_publish(user):
        return []
    stmt = _publishable().options(selectinload(Account.institution).selectinload(Institution.direction))
    if not access.publishes_everywhere(user):
        stmt = stmt.where(Account.institution_id == user.institution_id)
    stmt = stmt.join(Direction, Institution.direction_id == Direction.id).order_by(
        Direction.sort_order, Direction.name, Institution.short_name, Account.network, Account.title, Account.id)
    return list(db.session.scalars(stmt))


@dataclass
class Group:
    direction: Direction
    participants: list[tuple[Institution, list[Account]]]


def grouped_targets(user: User | None) -> list[Group]:
    """targets(user) grouped by direction, then by participant (the compose page's checkboxes)."""
    groups: dict[int, Group] = {}
    for account in targets(user):
        inst = account.institution
        group = groups.setdefault(inst.direction_id, Group(inst.direction, []))
        if not group.participants or group.participants[-1][0].id != inst.id:
            group.participants.append((inst, []))
        group.participants[-1][1].append(account)
    return list(groups.values())


def directions(user: User | None) -> list[Direction]:
    """The directions press and admin may publish to as a whole (those with a publishable account)."""
    if not access.publishes_everywhere(user):
        return []
    return list(db.session.scalars(select(Direction).where(exists(
        _publishable().where(Institution.direction_id == Direction.id).subquery().select())).order_by(
        Direction.sort_order, Direction.name)))


def parse_accounts(user: User, spec: str) -> list[Account]:
    """`all`, `direction:<code or id>` or `<id,id,…>` (the CLI's --accounts) → the accounts, checked against the
    user's rights. An unknown or forbidden id is an error naming it (the same answer for both)."""
    spec = (spec or "").strip()
    allowed = targets(user)
    if not allowed:
        raise NotAllowed("Вам некуда публиковать: нет доступных аккаунтов")
    if spec == "all":
        return allowed
    if spec.startswith("direction:"):
        name = spec.split(":", 1)[1].strip()
        if not access.publishes_everywhere(user):
            raise NotAllowed("Публиковать по направлениям могут пресс-служба и администратор")
        chosen = [a for a in allowed if a.institution.direction.code == name or str(a.institution.direction_id) == name]
        if not chosen:
            raise ValidationFailed("Направление «%(d)s» не найдено или в нём нет аккаунтов для публикации",
                                   field="accounts", d=name[:80])
        return chosen
    by_id = {a.id: a for a in allowed}
    chosen = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if not (item.isascii() and item.isdigit()) or int(item) not in by_id:
            raise ValidationFailed("Аккаунт %(id)s не найден или вам недоступен для публикации", field="accounts",
                                   id=item[:40])
        if by_id[int(item)] not in chosen:
            chosen.append(by_id[int(item)])
    if not chosen:
        raise ValidationFailed("Укажите аккаунты: all, direction:<код направления> или номера через запятую",
                               field="accounts")
    return chosen


def check_rights(user: User, account_id: int):
    """Ask the platform now whether the app may publish to one of the user's accounts (the outbox stores the answer
    on the account: publish_ok, publish_photos_ok, publish_reason). Caller commits."""
    account = next((a for a in targets(user) if a.id == account_id), None)
    if account is None:
        raise NotFound("Аккаунт не найден")
    return account, outbox.check_rights(account)


def _accounts(user: User, account_ids) -> list[Account]:
    by_id = {a.id: a for a in targets(user)}
    chosen: list[Account] = []
    for raw in account_ids or ():
        try:
            account_id = int(raw)
        except (TypeError, ValueError):
            account_id = None
        if account_id not in by_id:
            raise ValidationFailed("Аккаунт %(id)s не найден или вам недоступен для публикации", field="accounts",
                                   id=str(raw)[:40])
        if by_id[account_id] not in chosen:
            chosen.append(by_id[account_id])
    if not chosen:
        raise ValidationFailed("Выберите хотя бы один аккаунт", field="accounts")
    return chosen


# --- time ---------------------------------------------------------------------------------------------------
def city_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["CITY_TZ"])


def parse_city_time(raw: str | None) -> datetime | None:
    """«2026-12-01 18:30» / «2026-12-01T18:30» (the datetime-local field) / «01.12.2026 18:30» in city time → UTC;
    empty → None (now). A malformed moment is an error."""
    raw = (raw or "").strip().replace("T", " ")
    if not raw:
        return None
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d.%m.%Y %H:%M"):
        try:
            parsed = datetime.strptime(raw[:40], fmt)
        except ValueError:
            continue
        try:
            return parsed.replace(tzinfo=city_tz()).astimezone(timezone.utc)
        except (OverflowError, ValueError):  # the first hours of year 1 in city time are before year 1 in UTC
            raise _past() from None
    raise ValidationFailed("Укажите время публикации как ГГГГ-ММ-ДД ЧЧ:ММ (по местному времени)", field="at")


def _past() -> ValidationFailed:
    return ValidationFailed("Время публикации уже прошло: укажите будущее время или оставьте поле пустым, "
                            "чтобы опубликовать сейчас", field="at")


def to_city(moment: datetime | None) -> datetime | None:
    return moment.astimezone(city_tz()) if moment else None


def _check_time(at: datetime | None, now: datetime) -> datetime | None:
    if at is None:
        return None
    if at.tzinfo is None:
        raise ValidationFailed("Время публикации без часового пояса", field="at")
    if at <= now:
        raise _past()
    if at > now + timedelta(days=366):
        raise ValidationFailed("Запланировать можно не дальше чем на год вперёд", field="at")
    return at


# --- characters PostgreSQL cannot store ---------------------------------------------------------------------
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL; lone surrogates (a non-UTF-8 command line gives them)


def _storable(value: str, field: str) -> str:
    """`value`, or an error naming the field when it holds characters no text column can take."""
    if not _UNSTORABLE.search(value):
        return value
    if field == "key":
        raise ValidationFailed("В ключе есть символы, которые нельзя сохранить (нулевой символ или повреждённая "
                               "кодировка): возьмите ключ из латинских букв и цифр", field=field)
    if field == "reason":
        raise ValidationFailed("В причине есть символы, которые нельзя сохранить (нулевой символ или повреждённая "
                               "кодировка): наберите её заново", field=field)
    raise ValidationFailed("В тексте есть символы, которые нельзя сохранить (нулевой символ или повреждённая "
                           "кодировка): уберите их или наберите текст заново", field=field)


def _display_name(filename: str) -> str:
    """The user's file name as shown: safe for a header, and broken encoding shown as «?» (a name is only shown)."""
    return _UNSTORABLE.sub("?", clean_name(filename) or "")[:NAME_MAX]


# --- photos ------------------------------------------------------------------------------------------------
def check_photo(filename: str, content: bytes) -> str:
    """The photo's type by its bytes (JPEG, PNG, WebP, GIF), or an error naming the file."""
    name = _display_name(filename) or "без имени"
    if not content:
        raise ValidationFailed("Файл «%(name)s» пуст", field="photos", name=name)
    if len(content) > PHOTO_MAX_BYTES:
        raise ValidationFailed("Фото «%(name)s» больше 10 МБ: уменьшите его", field="photos", name=name)
    mime = sniff(content)
    if mime not in PHOTO_TYPES:
        raise ValidationFailed("Файл «%(name)s» — не фото: подходят JPEG, PNG, WebP или GIF", field="photos",
                               name=name)
    return mime


def store_photo(filename: str, content: bytes, upload_dir: str | None = None,
                now: datetime | None = None) -> StoredPhoto:
    """Check a photo by its bytes and store it under UPLOAD_DIR/publications/<yyyy>/<mm>/<uuid>.<ext> (never
    under the user's name, whose only use is to be shown)."""
    mime = check_photo(filename, content)
    upload_dir = upload_dir or current_app.config["UPLOAD_DIR"]
    now = now or utcnow()
    folder = f"{PHOTO_DIR}/{now:%Y}/{now:%m}"
    os.makedirs(os.path.join(upload_dir, folder), exist_ok=True)
    relative = f"{folder}/{uuid.uuid4().hex}.{PHOTO_TYPES[mime]}"
    with open(os.path.join(upload_dir, relative), "wb") as fh:
        fh.write(content)
    return StoredPhoto(relative, mime, len(content), _display_name(filename),
                       hashlib.sha256(content).hexdigest())


def remove_files(paths, upload_dir: str | None = None) -> None:
    """Delete stored photos nobody refers to (after a failed or idempotent create); a missing file is no error."""
    upload_dir = upload_dir or current_app.config["UPLOAD_DIR"]
    for relative in paths:
        if relative and relative.startswith(f"{PHOTO_DIR}/") and ".." not in relative:
            try:
                os.remove(os.path.join(upload_dir, relative))
            except OSError:
                pass


def _store_all(uploads) -> list[StoredPhoto]:
    uploads = [u for u in uploads or () if u is not None]
    if len(uploads) > PHOTOS_MAX:
        raise ValidationFailed("К посту можно приложить не больше %(n)s фото, а выбрано %(k)s", field="photos",
                               n=PHOTOS_MAX, k=len(uploads))
    for upload in uploads:  # every file checked before any is stored
        check_photo(upload.filename, upload.content)
    return [store_photo(u.filename, u.content) for u in uploads]


def photo_file(user: User, photo_id: int) -> tuple[bytes, str]:
    """A post's photo for staff who may see the post: its bytes and the type recorded at upload (checked again
    against the bytes); NotFound otherwise."""
    photo = db.session.get(PublicationPhoto, photo_id) if 0 < photo_id < 2**31 else None
    if photo is None or not access.can_view_publication(user, photo.publication):
        raise NotFound("Фото не найдено")
    if photo.content_type not in PHOTO_TYPES or ".." in photo.path:
        raise NotFound("Фото не найдено")
    try:
        with open(os.path.join(current_app.config["UPLOAD_DIR"], photo.path), "rb") as fh:
            content = fh.read()
    except OSError:
        raise NotFound("Фото не найдено") from None
    if sniff(content) != photo.content_type:
        raise NotFound("Фото не найдено")
    return content, photo.content_type


# --- preview ---------------------------------------------------------------------------------------------------
def plan_photos(photos) -> list[limits.Photo]:
    return [limits.Photo(size=p.size, content_type=p.content_type) for p in photos]


def preview(user: User, text: str, photos, account_ids, link_preview: bool) -> Preview:
    """Per network of the chosen accounts (unknown or forbidden ids are left out): what will be sent."""
    by_id = {a.id: a for a in targets(user)}
    chosen: dict[str, list[Account]] = {}
    for raw in account_ids or ():
        try:
            account = by_id.get(int(raw))
        except (TypeError, ValueError):
            account = None
        if account is not None and account not in chosen.get(account.network, []):
            chosen.setdefault(account.network, []).append(account)
    networks = [n for n in NETWORKS if n in chosen]
    try:
        _check_text(text, True)
    except ValidationFailed as exc:  # never the plan of a silently cut text
        return Preview({}, chosen, exc.message)
    return Preview(limits.plan_all(text or "", photos, networks, link_preview), chosen)


def plans(pub: Publication) -> dict[str, limits.Plan]:
    """The plan per network of a stored publication (its warnings and refusals, shown on its page and by the CLI)."""
    networks = [n for n in NETWORKS if any(d.network == n for d in pub.deliveries)]
    return limits.plan_all(pub.text, plan_photos(pub.photos), networks, pub.link_preview)


# --- composing ---------------------------------------------------------------------------------------------------
def _check_text(text: str | None, has_photos: bool) -> str:
    text = _storable((text or "").strip(), "text")
    if len(text) > TEXT_MAX:
        raise ValidationFailed("Текст слишком длинный: не больше %(n)s символов", field="text", n=TEXT_MAX)
    if not text and not has_photos:
        raise ValidationFailed("Пост пуст: добавьте текст или хотя бы одно фото", field="text")
    return text


def _institution_of(author: User, accounts: list[Account]) -> int | None:
    if author.role == "smm":
        return author.institution_id
    ids = {a.institution_id for a in accounts}
    return ids.pop() if len(ids) == 1 else None


def needs_approval(actor: User, institution_id: int | None) -> bool:
    """An smm specialist's post waits for the press service when its participant asks for that."""
    if actor.role != "smm" or institution_id is None:
        return False
    inst = db.session.get(Institution, institution_id)
    return bool(inst and inst.posts_need_approval)


def _notify_press(pub: Publication) -> None:
    inst = pub.institution.short_name if pub.institution else ""
    text = f"Пост ждёт согласования: {inst} — «{_excerpt(pub.text)}» (№ {pub.id})"
    for user in db.session.scalars(select(User).where(User.role == "press", User.is_active_user.is_(True))):
        db.session.add(Notification(user_id=user.id, kind="publication_approval", text=text, publication_id=pub.id))


def _excerpt(text: str, n: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[:n - 1] + "…"


def _go(actor: User, pub: Publication) -> None:
    """To approval, or released to the outbox."""
    if needs_approval(actor, pub.institution_id):
        pub.state = "awaiting_approval"
        pub.approved_by_id = pub.approved_at = None
        db.session.flush()
        _notify_press(pub)
    else:
        pub.state = "scheduled"
        db.session.flush()
        outbox.release(pub)


def _same(pub: Publication, text: str, uploads, accounts: list[Account], at, link_preview: bool) -> bool:
    """Whether a repeated key brings the same post (photos compared by their bytes, in order)."""
    same_moment = pub.scheduled_at == at or (  # approved after its moment: it went at once (scheduled_at cleared)
        pub.scheduled_at is None and at is not None and pub.approved_at is not None and at <= pub.approved_at)
    return (pub.text == text and bool(pub.link_preview) == bool(link_preview) and same_moment
            and {d.account_id for d in pub.deliveries} == {a.id for a in accounts}
            and [p.size for p in pub.photos] == [len(u.content) for u in uploads]
            and [_stored_digest(p) for p in pub.photos] == [hashlib.sha256(u.content).hexdigest() for u in uploads])


def _stored_digest(photo: PublicationPhoto) -> str | None:
    try:
        with open(os.path.join(current_app.config["UPLOAD_DIR"], photo.path), "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:  # the stored file is gone: it cannot be shown to be the same photo
        return None


def by_key(author: User, key: str | None) -> Publication | None:
    if not key:
        return None
    return db.session.scalar(select(Publication).where(Publication.author_id == author.id, Publication.key == key))


@dataclass
class Created:
    publication: Publication
    created: bool  # False: the same key had already made this publication; nothing new was made


def create(author: User, *, text: str, photos=(), account_ids=(), at: datetime | None = None,
           link_preview: bool = True, key: str | None = None, now: datetime | None = None) -> Created:
    """Compose a post: checked, stored with one `waiting` delivery per account, then sent to approval or released.
    `photos`: Upload (file name and bytes) each. `at`: a UTC moment in the future, None for now. The same `key`
    from the same author returns the publication it made (nothing new); the same key with other content is an
    error. Caller commits."""
    if not access.can_publish(author):
        raise NotAllowed("Публиковать посты может SMM-специалист участника, пресс-служба или администратор")
    now = now or utcnow()
    uploads = [u for u in photos or () if u is not None]
    key = _storable((key or "").strip(), "key") or None
    if key and len(key) > KEY_MAX:
        raise ValidationFailed("Ключ длиннее %(n)s символов", field="key", n=KEY_MAX)
    text = _check_text(text, bool(uploads))
    accounts = _accounts(author, account_ids)
    existing = by_key(author, key)
    if existing is not None:
        if _same(existing, text, uploads, accounts, at, link_preview):
            return Created(existing, False)
        raise ValidationFailed("Ключ «%(key)s» уже использован для другого поста (№ %(id)s): возьмите новый ключ",
                               field="key", key=key, id=existing.id)
    at = _check_time(at, now)
    stored = _store_all(uploads)
    pub = Publication(author_id=author.id, institution_id=_institution_of(author, accounts), text=text,
                      link_preview=bool(link_preview), scheduled_at=at, key=key, state="draft")
    pub.photos = [PublicationPhoto(position=i, path=s.path, content_type=s.content_type, size=s.size,
                                   original_name=s.original_name or None) for i, s in enumerate(stored)]
    pub.deliveries = [Delivery(account_id=a.id, account=a, network=a.network, state="waiting") for a in accounts]
    try:
        with db.session.begin_nested():
            db.session.add(pub)
            db.session.flush()
    except IntegrityError:  # the same key a moment ago from another process
        remove_files([s.path for s in stored])
        existing = by_key(author, key)
        if existing is None:
            raise
        if _same(existing, text, uploads, accounts, at, link_preview):
            return Created(existing, False)
        raise ValidationFailed("Ключ «%(key)s» уже использован для другого поста (№ %(id)s): возьмите новый ключ",
                               field="key", key=key, id=existing.id) from None
    _go(author, pub)
    return Created(pub, True)


def _lock(pub: Publication) -> None:
    """Take the publication's and its deliveries' rows (the outbox's scheduler waits, then sees the change)."""
    db.session.execute(select(Publication.id).where(Publication.id == pub.id).with_for_update())
    db.session.execute(select(Delivery.id).where(Delivery.publication_id == pub.id).with_for_update())
    db.session.refresh(pub)
    for delivery in pub.deliveries:
        db.session.refresh(delivery)


def can_edit(pub: Publication) -> bool:
    """Before anything went out: text, photos, accounts and time may still change."""
    return pub.state in EDITABLE and all(d.state in NOT_GONE_OUT for d in pub.deliveries)


def _ensure_change(actor: User, pub: Publication) -> None:
    if not access.can_view_publication(actor, pub) or not access.can_publish(actor):
        raise NotFound("Пост не найден")


def update(actor: User, pub: Publication, *, text: str, photos=None, remove_photos: bool = False,
           account_ids=(), at: datetime | None = None, link_preview: bool = True,
           now: datetime | None = None) -> Publication:
    """Change a post before anything went out. `photos` None keeps the photos (unless `remove_photos`); a list of
    Upload replaces them. Re-planned and sent again: to approval when the actor's participant asks for it (an
    approved post edited by its smm author goes back to approval), else released. Caller commits; the replaced
    photos' files are returned in `pub.removed_paths` for the caller to delete after the commit."""
    _ensure_change(actor, pub)
    _lock(pub)
    if not can_edit(pub):
        raise InvalidTransition("Пост уже отправляется или отправлен: изменить можно только текст опубликованного "
                                "поста")
    now = now or utcnow()
    new_uploads = None if photos is None else [u for u in photos if u is not None]
    keep_photos = not remove_photos and not new_uploads
    text = _check_text(text, bool(new_uploads) or (keep_photos and bool(pub.photos)))
    accounts = _accounts(actor, account_ids)
    at = _check_time(at, now)
    removed: list[str] = []
    if not keep_photos:
        stored = _store_all(new_uploads or [])
        removed = [p.path for p in pub.photos]
        pub.photos = [PublicationPhoto(position=i, path=s.path, content_type=s.content_type, size=s.size,
                                       original_name=s.original_name or None) for i, s in enumerate(stored)]
    if pub.state == "scheduled":
        outbox.cancel(pub)  # nothing went out: the old rows stop, new ones are made below
    for delivery in list(pub.deliveries):
        pub.deliveries.remove(delivery)
    db.session.flush()
    pub.text, pub.link_preview, pub.scheduled_at = text, bool(link_preview), at
    pub.institution_id = _institution_of(pub.author, accounts)
    pub.rejection_reason = None
    pub.deliveries = [Delivery(account_id=a.id, account=a, network=a.network, state="waiting") for a in accounts]
    db.session.flush()
    was_waiting = pub.state in ("awaiting_approval", "rejected")
    _go(actor, pub)
    if was_waiting and pub.state == "scheduled" and access.can_approve(actor) and actor.id != pub.author_id:
        pub.approved_by_id, pub.approved_at = actor.id, now  # the press service edited it: that is its approval
        _close_requests(pub, now)
    pub.removed_paths = removed
    return pub


def cancel(actor: User, pub: Publication) -> None:
    """Cancel a post before anything went out. Caller commits."""
    _ensure_change(actor, pub)
    _lock(pub)
    going = _sending(pub)
    if going and pub.state in EDITABLE:  # a worker took a copy a moment ago: it will reach the network
        raise InvalidTransition("Пост уже отправляется (%(account)s): отменить его нельзя — дождитесь конца "
                                "отправки и удалите опубликованные копии", account=going)
    if not can_edit(pub):
        raise InvalidTransition("Этот пост уже нельзя отменить: он отправляется, отправлен или отменён")
    outbox.cancel(pub)
    pub.state = "cancelled"


def _sending(pub: Publication) -> str:
    """The accounts a copy of `pub` is being sent to right now, named («» when none)."""
    return ", ".join(outbox.account_label(d.account) for d in pub.deliveries if d.state == "sending")


def pending(user: User) -> int:
    """How many posts wait for the press service's approval (the «ждут согласования» tab)."""
    if not access.can_approve(user):
        return 0
    return db.session.scalar(select(func.count(Publication.id)).where(Publication.state == "awaiting_approval"))


def approve(press_user: User, pub: Publication, now: datetime | None = None) -> None:
    """The press service lets a waiting post go. Caller commits."""
    if not access.can_approve(press_user):
        raise NotAllowed("Согласовывать посты может пресс-служба")
    _lock(pub)
    if pub.state != "awaiting_approval":
        raise InvalidTransition("Пост не ждёт согласования")
    pub.state = "scheduled"
    pub.approved_by_id, pub.approved_at = press_user.id, now or utcnow()
    pub.rejection_reason = None
    if pub.scheduled_at is not None and pub.scheduled_at <= pub.approved_at:
        pub.scheduled_at = None  # its moment passed while it waited: it goes now
    _close_requests(pub, pub.approved_at)
    db.session.flush()
    outbox.release(pub)
    if pub.author_id != press_user.id:
        db.session.add(Notification(user_id=pub.author_id, kind="publication_approved", publication_id=pub.id,
                                    text=f"Пост № {pub.id} согласован: «{_excerpt(pub.text)}»"))


def reject(press_user: User, pub: Publication, reason: str, now: datetime | None = None) -> None:
    """The press service sends a waiting post back with a reason (required); the author is notified. Caller
    commits."""
    if not access.can_approve(press_user):
        raise NotAllowed("Согласовывать посты может пресс-служба")
    reason = _storable((reason or "").strip(), "reason")
    if not reason:
        raise ValidationFailed("Напишите причину: её увидит автор поста", field="reason")
    if len(reason) > REASON_MAX:
        raise ValidationFailed("Причина длиннее %(n)s символов", field="reason", n=REASON_MAX)
    _lock(pub)
    if pub.state != "awaiting_approval":
        raise InvalidTransition("Пост не ждёт согласования")
    pub.state, pub.rejection_reason = "rejected", reason
    _close_requests(pub, now or utcnow())
    db.session.add(Notification(user_id=pub.author_id, kind="publication_rejected", publication_id=pub.id,
                                text=f"Пост № {pub.id} не согласован: {reason}"))


def _close_requests(pub: Publication, now: datetime) -> None:
    """The other press users' «ждёт согласования» notifications of this post are done."""
    for note in db.session.scalars(select(Notification).where(
            Notification.publication_id == pub.id, Notification.kind == "publication_approval",
            Notification.read_at.is_(None))):
        note.read_at = now


def resend(actor: User, delivery: Delivery) -> None:
    """«Отправить ещё раз» of an unconfirmed or failed copy. Caller commits."""
    _ensure_change(actor, delivery.publication)
    if delivery.publication.state in ("cancelled", "deleted"):
        raise InvalidTransition("Пост отменён или удалён: его копии больше не отправляются")
    if delivery.state not in ("unconfirmed", "failed"):
        raise InvalidTransition("Эту копию не нужно отправлять ещё раз")
    if delivery.account_id not in {a.id for a in targets(actor)}:  # moved to another participant, switched off…
        raise NotAllowed("Аккаунт %(account)s вам недоступен для публикации: отправить копию ещё раз может "
                         "пресс-служба", account=outbox.account_label(delivery.account))
    outbox.resend(delivery)


def edit_published(actor: User, pub: Publication, text: str, now: datetime | None = None) -> dict[int, str | None]:
    """A published post's new text, applied to every copy where the platform allows it (the outbox commits):
    {delivery id: None or the reason it could not be}."""
    _ensure_change(actor, pub)
    if pub.state not in PUBLISHED:
        raise InvalidTransition("Пост ещё не опубликован: измените его обычной правкой")
    _lock(pub)
    going = _sending(pub)
    if going:  # the copy in flight goes with the old text, and nothing would say so
        raise InvalidTransition("Пост ещё отправляется (%(account)s): изменить его текст везде можно, когда "
                                "отправка закончится — обновите страницу через минуту", account=going)
    if needs_approval(actor, pub.institution_id):  # a new text would go out with no one's approval
        raise NotAllowed("Посты участника выходят после согласования пресс-службы: чтобы изменить текст "
                         "опубликованного поста, попросите об этом пресс-службу (или удалите пост и отправьте новый "
                         "на согласование)")
    text = _check_text(text, bool(pub.photos))
    pub.text, pub.edited_at = text, now or utcnow()
    db.session.flush()
    return outbox.apply_edit(pub)


def can_edit_published(actor: User, pub: Publication) -> bool:
    """Whether the «изменить текст везде» form is offered: published, and no approval stands in the way."""
    return pub.state in PUBLISHED and not needs_approval(actor, pub.institution_id)


def delete_published(actor: User, pub: Publication) -> dict[int, str | None]:
    """Delete every published copy where the platform allows it (the outbox commits)."""
    _ensure_change(actor, pub)
    _lock(pub)
    if pub.state not in PUBLISHED:
        raise InvalidTransition("Пост ещё не опубликован: его можно отменить")
    going = _sending(pub)
    if going:  # the copy in flight would be published after «удалено везде» and stay
        raise InvalidTransition("Пост ещё отправляется (%(account)s): удалить его везде можно, когда отправка "
                                "закончится — обновите страницу через минуту", account=going)
    pub.state = "deleted"
    db.session.flush()
    return outbox.apply_delete(pub)


# --- reading ------------------------------------------------------------------------------------------------
def get(user: User, publication_id: int) -> Publication:
    pub = db.session.get(Publication, publication_id) if 0 < publication_id < 2**31 else None
    if pub is None or not access.can_view_publication(user, pub):
        raise NotFound("Пост не найден")
    return pub


def get_delivery(user: User, publication_id: int, delivery_id: int) -> Delivery:
    pub = get(user, publication_id)
    for delivery in pub.deliveries:
        if delivery.id == delivery_id:
            return delivery
    raise NotFound("Пост не найден")


def visible(user: User):
    """SQL condition: the publications `user` may see (press/admin: all; smm: its participant's)."""
    if not access.can_publish(user):
        return Publication.id.is_(None)
    if access.publishes_everywhere(user):
        return Publication.id.isnot(None)
    return or_(Publication.institution_id == user.institution_id, Publication.author_id == user.id)


def listing(user: User, tab: str = "all", limit: int = 100) -> list[Publication]:
    stmt = select(Publication).where(visible(user)).options(
        selectinload(Publication.deliveries).selectinload(Delivery.account), selectinload(Publication.author),
        selectinload(Publication.institution))
    if tab == "approval":
        stmt = stmt.where(Publication.state == "awaiting_approval")
    elif tab == "mine":
        stmt = stmt.where(Publication.author_id == user.id)
    stmt = stmt.order_by(func.coalesce(Publication.scheduled_at, Publication.created_at).desc(),
                         Publication.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))


def participant_choices(user: User) -> list[Institution]:
    """The participants the calendar may be narrowed to (press/admin: every one with publishable accounts)."""
    if access.publishes_everywhere(user):
        return list(db.session.scalars(select(Institution).where(Institution.is_active.is_(True), exists(
            _publishable().where(Account.institution_id == Institution.id).subquery().select())).order_by(
            Institution.short_name)))
    if user.institution_id:
        inst = db.session.get(Institution, user.institution_id)
        return [inst] if inst else []
    return []


def moment(pub: Publication) -> datetime:
    """When the post is (or was) due: its publishing time, else its time, else when it was made."""
    return pub.published_at or pub.scheduled_at or pub.created_at


def calendar(user: User, start: date, days: int, institution: Institution | None = None) -> dict[date, list]:
    """{city day: [publication, …]} of scheduled, waiting and published posts from `start` for `days` days, in
    city time. smm: its participant's only; press/admin: the city, or one participant's (a post is the
    participant's when it goes to one of its accounts)."""
    tz = city_tz()
    begin = datetime.combine(start, time(0), tzinfo=tz).astimezone(timezone.utc)
    end = datetime.combine(start + timedelta(days=days), time(0), tzinfo=tz).astimezone(timezone.utc)
    when = func.coalesce(Publication.published_at, Publication.scheduled_at, Publication.created_at)
    stmt = select(Publication).where(visible(user), Publication.state.in_(
        ("awaiting_approval", "scheduled", "publishing", "done")), when >= begin, when < end).options(
        selectinload(Publication.deliveries).selectinload(Delivery.account)).order_by(when, Publication.id)
    if institution is not None:
        stmt = stmt.where(or_(Publication.institution_id == institution.id, exists(
            select(Delivery.id).join(Account, Delivery.account_id == Account.id).where(
                and_(Delivery.publication_id == Publication.id, Account.institution_id == institution.id)))))
    out: dict[date, list] = {start + timedelta(days=k): [] for k in range(days)}
    for pub in db.session.scalars(stmt):
        day = moment(pub).astimezone(tz).date()
        if day in out:
            out[day].append(pub)
    return out


def is_live(pub: Publication) -> bool:
    """Whether the post page should keep polling: a copy is scheduled or being sent."""
    return any(d.state in ACTIVE_DELIVERY for d in pub.deliveries)
