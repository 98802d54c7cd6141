"""QR codes of a participant (segno): its accounts, the city's feedback bots with its code, the web form.

What each code holds:
- `account-<id>`: the account's address (Account.url, http/https only) — «подписаться»;
- `bot-telegram`, `bot-vk`, `bot-max`: the bot's deep link with the participant's code (services/deeplinks) —
  offered only when that bot is configured and the participant receives appeals;
- `form`: `<PUBLIC_BASE_URL>/appeal?p=<code>` (same condition on the participant).

Print: error correction Q (25 % of the symbol may be lost: a poster gets dirty, scratched, creased or partly
covered by tape; these short links stay small — version 3-4 — so Q costs little) with `boost_error`, which takes
H when it fits in the same version. Quiet zone: 4 modules (ISO/IEC 18004). Size: about 35 mm with the quiet
zone (a code read from 30-50 cm away): PNG at 300 dpi with a whole number of pixels per module, SVG in mm.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import segno
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.extensions import db
from app.models import Account, Institution
from app.models.org import NETWORK_LABELS
from app.services import deeplinks

ERROR = "q"
BORDER = 4  # modules of quiet zone on each side
DPI = 300
SIZE_MM = 35  # the printed code with its quiet zone
MIN_SCALE = 8  # pixels per module at least (a long link never prints its modules smaller than 0.68 mm)
WHAT = re.compile(r"^(account-(\d{1,9})|bot-(telegram|vk|max)|form)$")
KINDS = ("svg", "png")
MIME = {"svg": "image/svg+xml", "png": "image/png"}


@dataclass
class Code:
    """One QR code of a participant: which (`what`, the URL part), its caption, and the text it holds."""

    what: str
    kind: str  # bot | form | account
    network: str | None
    caption: str
    text: str  # what the code holds (an address written out on the poster too)
    account: Account | None = None


def _account_caption(account: Account) -> str:
    title = account.title or account.handle or account.url
    if account.network == "telegram":
        return _("Telegram-канал «%(title)s»", title=title)
    if account.network == "vk":
        return _("Сообщество ВКонтакте «%(title)s»", title=title)
    if account.network == "ok":
        return _("Группа в Одноклассниках «%(title)s»", title=title)
    if account.network == "max":
        return _("Канал в MAX «%(title)s»", title=title)
    return f"{account.label or NETWORK_LABELS['other']} «{title}»"


BOT_CAPTIONS = {"telegram": _l("Написать в бот Telegram"), "vk": _l("Написать в сообщения ВКонтакте"),
                "max": _l("Написать в бот MAX")}


def _printable(url: str | None) -> bool:
    """Only web addresses become codes (an admin's typo or a `javascript:` link never does)."""
    parts = urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def participant_by_slug(slug: str) -> Institution | None:
    """An active participant by its public address, or None."""
    if not slug or len(slug) > 80:
        return None
    return db.session.scalar(select(Institution).where(Institution.slug == slug, Institution.is_active.is_(True)))


def active_accounts(institution: Institution) -> list[Account]:
    return list(db.session.scalars(select(Account).where(Account.institution_id == institution.id,
                                                         Account.shown())
                                   .order_by(Account.network, Account.id)))


def receives(institution: Institution) -> bool:
    """Whether the participant offers «напишите нам» codes (it receives appeals and has its code)."""
    return bool(institution.feedback_code) and deeplinks.routable(institution) is not None


def feedback_codes(institution: Institution, config: dict | None = None) -> list[Code]:
    """The bots (those configured) and the web form, each with the participant's code."""
    if not receives(institution):
        return []
    found = []
    for network in deeplinks.BOTS:
        link = deeplinks.bot_link(network, institution.feedback_code, config)
        if link:
            found.append(Code(f"bot-{network}", "bot", network, str(BOT_CAPTIONS[network]), link))
    found.append(Code("form", "form", "web", _("Форма обращения на сайте"),
                      deeplinks.form_link(institution.feedback_code, config)))
    return found


def account_codes(accounts) -> list[Code]:
    return [Code(f"account-{a.id}", "account", a.network, _account_caption(a), a.url, account=a)
            for a in accounts if a.is_active and a.confirmed_at is not None and _printable(a.url)]


def codes(institution: Institution, accounts, config: dict | None = None) -> list[Code]:
    """Every code of the participant: bots and the form first (write to us), then its accounts."""
    return feedback_codes(institution, config) + account_codes(accounts)


def find(institution: Institution, what: str, config: dict | None = None) -> Code | None:
    """The code `what` of the participant (account-<id>, bot-<network>, form), or None (unknown, inactive,
    another participant's account, a bot not configured)."""
    match = WHAT.match(what or "")
    if match is None or not institution.is_active:
        return None
    if match.group(2):
        account_id = int(match.group(2))
        accounts = [a for a in institution.accounts if a.id == account_id]
        return next(iter(account_codes(accounts)), None)
    return next((c for c in feedback_codes(institution, config) if c.what == what), None)


def symbol(text: str) -> segno.QRCode:
    return segno.make(text, error=ERROR, boost_error=True, micro=False)


def png_scale(qr: segno.QRCode) -> int:
    """Pixels per module so that the code with its quiet zone is about SIZE_MM at DPI."""
    modules = qr.symbol_size(border=BORDER)[0]
    return max(MIN_SCALE, round(SIZE_MM / 25.4 * DPI / modules))


def size_mm(qr: segno.QRCode) -> float:
    """The printed side of the code with its quiet zone, in mm (the PNG's at DPI; the SVG says the same)."""
    return qr.symbol_size(border=BORDER)[0] * png_scale(qr) / DPI * 25.4


def render(code: Code, kind: str) -> bytes:
    """The code as SVG (sized in mm, with a <title>) or as a 300-dpi PNG."""
    qr = symbol(code.text)
    out = io.BytesIO()
    if kind == "svg":
        # One user unit a module (segno's float scales round the background short by a module); the printed
        # size is the PNG's, given as width / height in mm.
        qr.save(out, kind="svg", scale=1, border=BORDER, dark="#000", light="#fff", title=code.caption,
                xmldecl=True, svgclass=None, lineclass=None, omitsize=True)
        size = f"{size_mm(qr):.2f}mm"
        return out.getvalue().replace(b"<svg ", f'<svg width="{size}" height="{size}" '.encode(), 1)
    if kind == "png":
        qr.save(out, kind="png", scale=png_scale(qr), border=BORDER, dark="#000", light="#fff", dpi=DPI)
        return out.getvalue()
    raise ValueError(kind)


def file_name(institution: Institution, code: Code, kind: str) -> str:
    """«QR Школа № 3 — Написать в бот Telegram.png»: the participant and the caption, without path characters."""
    name = f"QR {institution.short_name} — {code.caption}"
    name = re.sub(r"[\\/:*?\"<>|\x00-\x1f]+", " ", name).strip()[:150]
    return f"{name}.{kind}"
