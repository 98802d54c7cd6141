"""What every network's publishing module offers (one module each: telegram, vk, ok, max) — the interface the
outbox (app/services/publishing/outbox.py) drives. A module never touches the database: it takes plain values
and returns plain values or raises PublishError, so the outbox keeps every state change in one place.

    rights = module.check_rights(channel, config, pacing=PACING)            # Rights: may we post here, and why not
    sent = module.send_part(channel, plan, k, photos, config, guid=…, uploaded=…, pacing=PACING)   # Sent
    module.edit(channel, parts, plan, config, pacing=PACING)                 # apply a new text to a published copy
    module.delete(channel, parts, config, pacing=PACING)                     # delete a published copy

`plan` is limits.plan_for(network, text, photos, link_preview) of the post: the calls in order (`plan.parts`). The
outbox calls `send_part` once per part k, committing «sending» before each call and the part's platform id after
it, so a part accepted is never sent twice. A part with photos uploads them first (VK/OK/MAX upload → post;
Telegram sends the files in the call); what was uploaded is recorded in `uploaded` (a dict the module fills in
place, e.g. {"vk": ["photo-1_2", …]}), which the outbox stores even when the call then fails, so a retry posts
without uploading again. `guid`: the outbox's idempotency key of this (post, account) — VK passes it to wall.post;
the networks with no such key ignore it.

Errors: PublishError (a PlatformError: Russian `message` naming the account and what to do, `kind`, `retry_after`)
with `uncertain=True` when the request may have reached the platform and its fate is unknown (a timeout or a
dropped connection after the request was sent): the outbox then never re-sends blindly on a network without an
idempotency key. Kinds: rate_limited (retry_after) and unavailable / garbage are retried; no_rights, bad_token,
not_found, private, wrong_network are final for this account.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from app.services.accounts.platforms.base import PlatformError


class PublishError(PlatformError):
    def __init__(self, message: str, kind: str = "unavailable", retry_after: float | None = None, *,
                 uncertain: bool = False):
        super().__init__(message, kind, retry_after)
        self.uncertain = uncertain

    @property
    def final(self) -> bool:
        """Trying again cannot help (rights, token, the channel is gone)."""
        return self.kind in ("no_rights", "bad_token", "not_found", "private", "wrong_network")


def worded(who: str, code: int, msg: str, errors: dict[int, tuple[str, str]], rate_limited: dict[int, float], *,
           asks: str, unknown: str, uncertain: bool = False) -> PublishError:
    """A platform's numbered error (VK, OK) as a PublishError: «<who>: <reason> (ошибка <code>: <msg>).» from
    `errors` {code: (kind, reason)}, `unknown` for a code not there; the codes in `rate_limited` {code: seconds} ask
    to wait («<who>: <asks> подождать…», `asks` e.g. «ВКонтакте просит»). The platform's code and message are kept
    on the error (`code`, `platform_message`)."""
    if code in rate_limited:
        wait = rate_limited[code]
        exc = PublishError(f"{who}: {asks} подождать (ошибка {code}: {msg}) — повторим через {wait:.0f} с.",
                           "rate_limited", wait)
    else:
        kind, reason = errors.get(code, ("unavailable", unknown))
        exc = PublishError(f"{who}: {reason} (ошибка {code}: {msg}).", kind, uncertain=uncertain)
    exc.code, exc.platform_message = code, msg
    return exc


@dataclass(frozen=True)
class Channel:
    """What a network module needs of an account (no ORM object crosses into it)."""
    account_id: int
    network: str
    external_id: str  # Telegram chat id, VK group id (positive), OK group id, MAX chat id
    handle: str = ""
    title: str = ""
    token: str | None = None  # the account's own token (VK community, OK group), decrypted
    user_token: str | None = None  # VK: a user token of a community admin (photo posts need it)

    @property
    def name(self) -> str:
        """How the account is named in messages to staff: «ВКонтакте «Школа № 3»»."""
        return self.title or self.handle or self.external_id


@dataclass(frozen=True)
class PhotoFile:
    """A photo of the post as stored (UPLOAD_DIR) with the type its bytes showed at upload."""
    path: str  # absolute
    content_type: str
    size: int
    name: str = "photo"

    def read(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read()

    @property
    def filename(self) -> str:
        ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}.get(
            self.content_type, "bin")
        return f"{os.path.splitext(os.path.basename(self.name or 'photo'))[0] or 'photo'}.{ext}"


@dataclass
class Rights:
    """May the app publish to this account: text at all (`can_post`), photos (`can_post_photos`), and `reason`
    — a Russian sentence: what is missing and what to do, or what is allowed."""
    can_post: bool
    can_post_photos: bool
    reason: str


@dataclass
class Sent:
    """One accepted call: the platform's id of what it created (Telegram: the first message id of the call; VK the
    wall post id; OK the topic id; MAX the message mid) and a public link when there is one. `ids`: every id the
    call created (an album's messages), needed to edit or delete it later."""
    external_id: str
    permalink: str | None = None
    ids: list[str] = field(default_factory=list)
