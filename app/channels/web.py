"""Our own channels: the public web form («web») and the ingest API («api»).

Neither is a platform with a push channel: a reply to a resident who wrote through them is published on
the public status page (/status/<number>), so `send()` only says so. The views validate input; the
adapters turn validated input into IncomingMessage. Photos of the web form are checked by their magic
bytes and stored under UPLOAD_DIR/<yyyy>/<mm>/<uuid>.<ext> (never under the resident's file name).
Channels never touch the database.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from app.channels.base import Attachment, BadPayload, IncomingMessage, OutgoingReply, ParsedRequest, SendResult

STATUS_PAGE = "status-page"  # SendResult.external_id of a reply published on the status page
REPLY_ADDRESS = {"via": STATUS_PAGE}  # a non-empty reply address: replies are kept and "sent" to the page

MAX_TEXT = 10_000
MAX_ADDRESS = 300
MAX_NAME = 200
MAX_EMAIL = 200
MAX_EXTERNAL_ID = 128
MAX_SOURCE = 60
MAX_API_ATTACHMENTS = 10
API_ATTACHMENT_KINDS = ("photo", "document", "video", "audio", "other")
EARLIEST_SENT_AT = datetime(2000, 1, 1, tzinfo=timezone.utc)

# --- contacts -------------------------------------------------------------------------------------
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]{2,}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s()\-.]+$")


def normalise_email(value: str | None) -> str | None:
    """A lower-cased e-mail address, None when empty; ValueError when it is not an address."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise ValueError("bad email")
    return value.lower()


def normalise_phone(value: str | None) -> str | None:
    """A phone number as +<digits> (Russian numbers as +7XXXXXXXXXX), None when empty; ValueError if bad."""
    value = (value or "").strip()
    if not value:
        return None
    if not _PHONE_CHARS.match(value):
        raise ValueError("bad phone")
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits[0] in "78" and not value.startswith("+"):
        digits = "7" + digits[1:]
    elif len(digits) == 10 and digits[0] == "9" and not value.startswith("+"):
        digits = "7" + digits
    if not 10 <= len(digits) <= 15 or (not value.startswith("+") and len(digits) != 11):
        raise ValueError("bad phone")
    return "+" + digits


def _bounded(prefix: str, value: str) -> str:
    """`prefix:value`, or `prefix:#<sha256>` when too long for a resident id (128)."""
    full = f"{prefix}:{value}"
    if len(full) <= MAX_EXTERNAL_ID:
        return full
    return f"{prefix}:#{hashlib.sha256(value.encode()).hexdigest()}"


def author_id_for(email: str | None, phone: str | None, fallback: str | None = None) -> str:
    """The resident's stable id in our channels: e-mail, else phone (both normalised), else the fallback
    (the API caller's own author id), else a fresh anonymous id."""
    if email:
        return _bounded("email", email)
    if phone:
        return _bounded("phone", phone)
    if fallback:
        return fallback
    return f"anon:{uuid.uuid4()}"


def _code(value: Any) -> str | None:
    """A participant's deep-link code from the form (the view has checked it; intake checks it again)."""
    return value.strip()[:32] or None if isinstance(value, str) else None


def _contact(name: str, phone: str | None, email: str | None) -> dict[str, Any]:
    return {"name": name, "phone": phone, "email": email, "consent": True}


# --- photos of the web form -----------------------------------------------------------------------
IMAGE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"heif"}


def sniff_image(head: bytes) -> str | None:
    """The image type from the file's first bytes (jpg | png | webp | heic), or None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heic"
    return None


def store_image(data: bytes, ext: str, upload_dir: str | Path, now: datetime | None = None) -> str:
    """Write one checked image as UPLOAD_DIR/<yyyy>/<mm>/<uuid>.<ext>; returns the path relative to UPLOAD_DIR."""
    now = now or datetime.now(timezone.utc)
    rel = f"{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{ext}"
    path = Path(upload_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:
        fh.write(data)
    return rel


def remove_stored(rel_paths: list[str], upload_dir: str | Path) -> None:
    """Delete files stored for a submission that was not kept (error or duplicate)."""
    for rel in rel_paths:
        try:
            (Path(upload_dir) / rel).unlink()
        except OSError:
            pass


def safe_display_name(filename: str | None) -> str | None:
    """The resident's file name for display only (never used on disk)."""
    name = Path((filename or "").replace("\\", "/")).name.strip()
    name = re.sub(r"[\x00-\x1f\x7f]", "", name)
    return name[:200] or None


# --- adapters -------------------------------------------------------------------------------------
class WebAdapter:
    """The public web form. The view validates the form (CSRF, limits, photos) and calls `parse()` with
    the clean values: {submission_id, text, address, name, phone, email, ip, attachments}."""

    network = "web"
    webhook = False  # only through /appeal (CSRF, consent, per-address limits): /hooks/web does not exist

    def is_enabled(self, config: dict) -> bool:
        return True

    def verify(self, headers: dict[str, str], payload: Any, config: dict) -> bool:
        return False  # no secret to check: the form is taken only by its view (CSRF, consent, limits)

    def parse(self, payload: Any, config: dict) -> ParsedRequest:
        if not isinstance(payload, dict) or not payload.get("submission_id"):
            raise BadPayload("no submission id")
        try:
            submission = str(uuid.UUID(str(payload["submission_id"])))
        except ValueError:
            raise BadPayload("submission id is not a uuid") from None
        email, phone = payload.get("email") or None, payload.get("phone") or None
        name = (payload.get("name") or "").strip()[:MAX_NAME]
        address = (payload.get("address") or "").strip()[:MAX_ADDRESS] or None
        message = IncomingMessage(
            network=self.network, external_id=submission, kind="form",
            author_id=author_id_for(email, phone), author_name=name, text=(payload.get("text") or "").strip(),
            attachments=list(payload.get("attachments") or []), reply_address=dict(REPLY_ADDRESS),
            raw={"address": address, "ip": payload.get("ip")}, contact=_contact(name, phone, email),
        )
        if code := _code(payload.get("participant")):
            message.raw["participant"] = code  # /appeal?p=<code>: intake routes it to that participant
        return ParsedRequest(messages=[message], status=201)

    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        return SendResult(external_id=STATUS_PAGE)  # no push channel: the status page shows the reply


class InvalidBody(BadPayload):
    """The API body is JSON but not a valid message: `details` maps field → Russian message."""

    def __init__(self, details: dict[str, str]):
        super().__init__("invalid fields: " + ", ".join(sorted(details)), status=422)
        self.details = details


def api_tokens(config: dict) -> list[str]:
    return [t.strip() for t in (config.get("INGEST_API_TOKENS") or "").split(",") if t.strip()]


def _str_field(body: dict, key: str, details: dict, *, required: bool = False, max_len: int,
               label: str) -> str | None:
    value = body.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            details[label] = "Обязательное поле"
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        details[label] = "Ожидается строка"
        return None
    value = str(value).strip()
    if "\x00" in value:
        details[label] = "Недопустимый символ \\0"
        return None
    if len(value) > max_len:
        details[label] = f"Не длиннее {max_len} символов"
        return None
    return value


def _parse_sent_at(value: Any, details: dict) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        details["sent_at"] = "Ожидается дата в формате ISO 8601"
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        details["sent_at"] = "Ожидается дата в формате ISO 8601, например 2026-03-01T10:15:00+09:00"
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)  # documented: a time without an offset is UTC
    try:
        when = when.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+14:00, 9999-12-31T23:59-12:00: outside the calendar in UTC
        details["sent_at"] = "Дата вне допустимого диапазона (2000 год — настоящее время)"
        return None
    if when < EARLIEST_SENT_AT:
        details["sent_at"] = "Дата вне допустимого диапазона (2000 год — настоящее время)"
        return None
    if when > datetime.now(timezone.utc) + timedelta(hours=1):
        details["sent_at"] = "Дата отправки в будущем"
        return None
    return when


def _parse_attachments(value: Any, details: dict) -> list[Attachment]:
    if value is None:
        return []
    if not isinstance(value, list):
        details["attachments"] = "Ожидается список вложений"
        return []
    if len(value) > MAX_API_ATTACHMENTS:
        details["attachments"] = f"Не больше {MAX_API_ATTACHMENTS} вложений"
        return []
    out = []
    for i, item in enumerate(value):
        label = f"attachments[{i}]"
        if not isinstance(item, dict):
            details[label] = "Ожидается объект {kind, url, name}"
            continue
        kind = item.get("kind") or "other"
        if kind not in API_ATTACHMENT_KINDS:
            details[f"{label}.kind"] = "Одно из: " + ", ".join(API_ATTACHMENT_KINDS)
            continue
        url = _str_field(item, "url", details, required=True, max_len=2000, label=f"{label}.url")
        if url is not None and not re.match(r"^https?://[^\s/]+\S*$", url):
            details[f"{label}.url"] = "Ожидается адрес http(s)://…"
            continue
        name = _str_field(item, "name", details, max_len=200, label=f"{label}.name")
        if url is not None:
            out.append(Attachment(kind=kind, file_id=url, url=url, name=name))
    return out


class ApiAdapter:
    """POST /api/v1/messages: other systems (a call centre, a partner site) hand residents' messages over.
    The caller's own `external_id` is the dedupe key, so retries are idempotent."""

    network = "api"
    webhook = False  # only through /api/v1/messages (bearer token): /hooks/api does not exist

    def is_enabled(self, config: dict) -> bool:
        return bool(api_tokens(config))

    def verify(self, headers: dict[str, str], payload: Any, config: dict) -> bool:
        """`Authorization: Bearer <token>` with one of INGEST_API_TOKENS (compared in constant time)."""
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "") or ""
        scheme, _, token = auth.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        ok = False
        for known in api_tokens(config):  # no early exit: the time does not tell which token matched
            ok |= hmac.compare_digest(token.encode(), known.encode())
        return ok

    def parse(self, payload: Any, config: dict) -> ParsedRequest:
        """A JSON body → one IncomingMessage. Raises BadPayload (400) or InvalidBody (422, with details)."""
        if not isinstance(payload, dict):
            raise BadPayload("Ожидается JSON-объект")
        details: dict[str, str] = {}
        external_id = _str_field(payload, "external_id", details, required=True, max_len=MAX_EXTERNAL_ID,
                                 label="external_id")
        attachments = _parse_attachments(payload.get("attachments"), details)
        text = payload.get("text")
        if text is not None and not isinstance(text, str):
            details["text"] = "Ожидается строка"
            text = ""
        text = (text or "").strip()
        if "\x00" in text:
            details["text"] = "Недопустимый символ \\0"
        elif len(text) > MAX_TEXT:
            details["text"] = f"Не длиннее {MAX_TEXT} символов"
        elif not text and not attachments and "attachments" not in details:
            details["text"] = "Обязательное поле, если нет вложений"
        address = _str_field(payload, "address", details, max_len=MAX_ADDRESS, label="address")
        source = _str_field(payload, "source", details, max_len=MAX_SOURCE, label="source") or "api"
        sent_at = _parse_sent_at(payload.get("sent_at"), details)

        author = payload.get("author")
        name = phone = email = author_ref = None
        if not isinstance(author, dict):
            details["author"] = "Обязательный объект {id, name, phone, email}"
        else:
            author_ref = _str_field(author, "id", details, required=True, max_len=MAX_EXTERNAL_ID, label="author.id")
            name = _str_field(author, "name", details, required=True, max_len=MAX_NAME, label="author.name")
            raw_phone = _str_field(author, "phone", details, max_len=40, label="author.phone")
            raw_email = _str_field(author, "email", details, max_len=MAX_EMAIL, label="author.email")
            try:
                phone = normalise_phone(raw_phone)
            except ValueError:
                details["author.phone"] = "Телефон в формате +7 900 000-00-00"
            try:
                email = normalise_email(raw_email)
            except ValueError:
                details["author.email"] = "Некорректный адрес электронной почты"
        if details:
            raise InvalidBody(details)

        message = IncomingMessage(
            network=self.network, external_id=external_id, kind="api",
            author_id=author_id_for(email, phone, _bounded(f"id:{source}", author_ref)),
            author_name=name or "", text=text, attachments=attachments, sent_at=sent_at,
            reply_address=dict(REPLY_ADDRESS), raw={"address": address, "source": source},
            contact=_contact(name or "", phone, email),
        )
        return ParsedRequest(messages=[message], status=201)

    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        return SendResult(external_id=STATUS_PAGE)  # the calling system reads the status page
