"""Publishing to an Одноклассники group (the interface in base.py), through the signed REST API
(app/services/accounts/platforms/ok.call: `application_key`, `access_token` = the group's token (channel.token) or
OK_REST_ACCESS_TOKEN, `sig`).

    check_rights: users.getCurrentUser → uid; group.getUserGroupsByIds(group_id, uids=uid) — needs GROUP_CONTENT,
                  so an application without it is told so here, before any post — the key's owner must be an
                  ADMIN / MODERATOR (or hold an EDITOR / MODERATOR role); photos: photosV2.getUploadUrl(gid, count=1)
                  (PHOTO_CONTENT; the upload slot it opens expires unused).
    send_part:    [photosV2.getUploadUrl(gid, count=N) → upload_url, photo_ids; the files POSTed as multipart
                  pic1…picN to upload_url → {"photos": {<photo_id>: {"token"}}}] → mediatopic.post(type=GROUP_THEME,
                  gid, attachment={"media": [{"type": "text"}, {"type": "photo", "list": [{"id": token}…]},
                  {"type": "link", "url"}]}) → the topic id.
    edit:         mediatopic.edit(topic_id, gid, attachment) for a text topic; a topic with photos is refused.
    delete:       mediatopic.deleteTopic(topic_id, gid).

What is verified and what is guessed (PLATFORM-NOTES §1 OK asks that a wrong guess shows as a clear per-account
error, never a crash):
- verified on apiok.ru method pages: mediatopic.post's `type`, `gid` («требует разрешение GROUP_CONTENT»),
  `attachment`, `text_link_preview`; photosV2.getUploadUrl's `gid`, `count`, the answer {photo_ids, upload_url,
  expires_ms, ttl_ms} and PHOTO_CONTENT; the upload form field `pic1` (apiok.ru upload example);
  group.getUserGroupsByIds (GROUP_CONTENT + VALUABLE_ACCESS; statuses ADMIN, MODERATOR, ACTIVE…; roles EDITOR…).
- from public client code only (not found on apiok.ru pages we could reach): the upload answer's shape
  {"photos": {id: {"token"}}}, a photo item {"id": <token>} (ok-android-sdk#8), the link item {"type": "link",
  "url"}, mediatopic.deleteTopic(topic_id, gid) and mediatopic.edit(topic_id, attachment) → {"success": true}.
- guessed: an application without GROUP_CONTENT gets error 10 (PERMISSION_DENIED) from group.getUserGroupsByIds and
  mediatopic.post; users.getCurrentUser answers with the account's token (a group admin's session). If
  mediatopic.edit does not exist (error 3) or refuses, the staff read that Одноклассники do not allow the change.

`uploaded["ok"]`: the upload tokens of the photos (["tok…", …]), recorded right after the upload so a retry posts
without uploading again (they live ~24 h, ttl_ms); dropped when OK refuses the post's parameters (error 100), so the
next try uploads anew.
Sent: external_id = the topic id, ids = [topic id], permalink https://ok.ru/group/<gid>/topic/<id>. OK has no
idempotency key: a dropped connection after mediatopic.post is `uncertain` (the outbox never re-sends blindly).
"""
from __future__ import annotations

import json
from typing import Any, Callable, Sequence

import httpx

from app.services.accounts.platforms import ok as ok_api
from app.services.accounts.platforms.base import PACING, Pacer, Pacing, PlatformError, clip, retrying, timeout
from app.services.publishing.limits import Plan
from app.services.publishing.networks.base import Channel, PhotoFile, PublishError, Rights, Sent, worded

NAME = "Одноклассники"
MAX_WAIT = 10.0  # seconds a publishing worker waits out a rate limit itself; longer: rate_limited to the outbox
POSTERS = {"ADMIN", "MODERATOR"}  # group.getUserGroupsByIds statuses that may post as the group
POSTER_ROLES = {"EDITOR", "MODERATOR", "SUPER_MODERATOR"}

NO_GROUP_CONTENT = ("Приложению ОК не выдано право GROUP_CONTENT: запросите его у api-support@ok.ru (письмом с id "
                    "приложения и целью — публикации в группы учреждений); до этого публиковать в группы нельзя")
NO_PHOTO_CONTENT = ("Приложению ОК не выдано право PHOTO_CONTENT: запросите его у api-support@ok.ru; до этого в "
                    "группу уйдут только посты без фото")
CANNOT_EDIT = "Одноклассники не позволяют изменить опубликованную тему: удалите и опубликуйте заново"

ERRORS: dict[int, tuple[str, str]] = {
    2: ("unavailable", "сервис Одноклассников временно недоступен — повторим позже"),
    10: ("no_rights", "нет прав на публикацию: приложению нужно право GROUP_CONTENT (запросите у api-support@ok.ru), "
                      "а владельцу ключа — права администратора группы"),
    100: ("not_found", "Одноклассники не приняли параметры: группа или тема не найдены — проверьте аккаунт"),
    101: ("bad_token", "неверный ключ приложения — проверьте настройку OK_APPLICATION_KEY"),
    102: ("bad_token", "ключ доступа группы истёк — введите новый ключ в карточке аккаунта"),
    103: ("bad_token", "ключ доступа недействителен — введите новый ключ в карточке аккаунта"),
    104: ("bad_token", "неверная подпись запроса — проверьте настройку OK_APPLICATION_SECRET_KEY"),
    160: ("not_found", "группы с таким id нет — добавьте аккаунт заново по адресу"),
    300: ("not_found", "группа или тема не найдены (возможно, тема уже удалена)"),
    455: ("private", "группа закрыта — публиковать в неё нельзя"),
}
RATE_LIMITED = ok_api.RATE_LIMITED  # 8 FLOOD_BLOCKED, 11 LIMIT_REACHED: 60 s
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)


# --- words --------------------------------------------------------------------------------------------------------
def _who(channel: Channel) -> str:
    return f"{NAME} «{channel.name}»"


def _error(code: int, msg: str, channel: Channel, *, uncertain: bool = False) -> PublishError:
    return worded(_who(channel), code, clip(msg, 200), ERRORS, RATE_LIMITED, asks="Одноклассники просят",
                  unknown="ошибка Одноклассников — повторим позже; если повторяется, сообщите администратору",
                  uncertain=uncertain)


def _translate(exc: PlatformError, channel: Channel, sending: bool) -> PublishError:
    if exc.code is not None:
        return _error(exc.code, exc.platform_message, channel)
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPError):
        uncertain = sending and not isinstance(cause, _CONNECT_ERRORS)
        what = ("недоступны" if isinstance(cause, _CONNECT_ERRORS) else
                "не ответили вовремя" if isinstance(cause, httpx.TimeoutException) else "оборвали соединение")
        tail = (" — тема могла опубликоваться: проверьте группу и нажмите «отправить ещё раз», только если её там "
                "нет." if uncertain else " — повторим позже.")
        return PublishError(f"{_who(channel)}: Одноклассники {what} ({cause.__class__.__name__}){tail}",
                            "unavailable", uncertain=uncertain)
    if exc.kind == "rate_limited":
        return PublishError(f"{_who(channel)}: {exc.message} Повторим через {exc.retry_after or 1:.0f} с.",
                            "rate_limited", exc.retry_after)
    return PublishError(f"{_who(channel)}: {exc.message}", exc.kind, exc.retry_after,
                        uncertain=sending and exc.kind == "garbage")


# --- calls --------------------------------------------------------------------------------------------------------
def _paced(call: Callable[[], Any], pacer: Pacer) -> Any:
    """`call()` in the token's turn; a rate limit up to MAX_WAIT is waited out (at most RETRIES times), a longer one
    is raised for the outbox to schedule."""
    return retrying(call, pacer, MAX_WAIT)


def _token(channel: Channel, config: dict) -> str:
    token = channel.token or ok_api.default_token(config)
    if not token:
        raise PublishError(f"{_who(channel)}: у аккаунта нет ключа доступа — добавьте ключ группы (администратора) "
                           "в карточке аккаунта.", "bad_token")
    return token


def _call(method: str, params: dict, channel: Channel, config: dict, pacing: Pacing, *, sending: bool = False,
          client: httpx.Client | None = None) -> Any:
    token = _token(channel, config)

    def once():
        try:
            return ok_api.call(method, params, token, config, client=client)
        except PlatformError as exc:
            raise _translate(exc, channel, sending) from exc
    return _paced(once, pacing.for_token("ok", token, ok_api.RATE))


def _gid(channel: Channel) -> str:
    gid = str(channel.external_id or "")
    if not (gid.isascii() and gid.isdigit()):
        raise PublishError(f"{_who(channel)}: у группы нет числового id — добавьте её заново по адресу.", "not_found")
    return gid


def _transient(exc: PublishError) -> bool:
    return exc.kind in ("rate_limited", "unavailable", "garbage")


# --- rights -------------------------------------------------------------------------------------------------------
def _memberships(found: Any) -> list[dict]:
    """group.getUserGroupsByIds in either documented shape: `{"memberships": [...]}` or a bare list."""
    found = found.get("memberships") if isinstance(found, dict) else found
    return [m for m in found if isinstance(m, dict)] if isinstance(found, list) else []


def check_rights(channel: Channel, config: dict, pacing: Pacing = PACING) -> Rights:
    """May the app post to this group (and with photos), and why not. Raises PublishError only when OK could not be
    asked (rate limit, unavailable); a definite answer is a Rights."""
    try:
        gid = _gid(channel)
        _token(channel, config)
    except PublishError as exc:
        return Rights(False, False, exc.message)
    try:
        me = _call("users.getCurrentUser", {"fields": "uid"}, channel, config, pacing)
        uid = str(me.get("uid") or "") if isinstance(me, dict) else ""
        if not uid:
            raise PublishError(f"{_who(channel)}: Одноклассники не назвали владельца ключа (users.getCurrentUser) — "
                               "укажите ключ администратора группы.", "bad_token")
        found = _call("group.getUserGroupsByIds", {"group_id": gid, "uids": uid}, channel, config, pacing)
    except PublishError as exc:
        if _transient(exc):
            raise
        if exc.code == 10:
            return Rights(False, False, f"{_who(channel)}. {NO_GROUP_CONTENT}.")
        return Rights(False, False, exc.message)
    mine = next((m for m in _memberships(found) if str(m.get("userId") or m.get("uid") or uid) == uid), None)
    status = str((mine or {}).get("status") or "").upper()
    roles = {str(r).upper() for r in (mine or {}).get("role") or [] if isinstance(r, str)}
    if status not in POSTERS and not roles & POSTER_ROLES:
        return Rights(False, False, f"{_who(channel)}: владелец ключа не администратор и не модератор группы (статус "
                                    f"{status or 'не участник'}) — укажите ключ администратора группы.")
    try:
        _call("photosV2.getUploadUrl", {"gid": gid, "count": 1}, channel, config, pacing)
    except PublishError as exc:
        if _transient(exc):
            raise
        reason = f"{_who(channel)}. {NO_PHOTO_CONTENT}." if exc.code == 10 else (
            f"Текст публиковать можно, а фото — нет. {exc.message}")
        return Rights(True, False, reason)
    return Rights(True, True, f"{_who(channel)}: можно публиковать темы с текстом и фото от имени группы.")


# --- sending ------------------------------------------------------------------------------------------------------
def _file_name(photo: PhotoFile, number: int) -> str:
    """An ASCII file name for the multipart part («photo1.jpg»): upload servers need no Cyrillic from us."""
    return f"photo{number}.{photo.filename.rsplit('.', 1)[-1]}"


def _upload(gid: str, files: list[PhotoFile], channel: Channel, config: dict, pacing: Pacing,
            client: httpx.Client) -> list[str]:
    """photosV2.getUploadUrl, then every file in one multipart POST (pic1…picN) → the photos' upload tokens."""
    slot = _call("photosV2.getUploadUrl", {"gid": gid, "count": len(files)}, channel, config, pacing, client=client)
    url = slot.get("upload_url") if isinstance(slot, dict) else None
    ids = slot.get("photo_ids") if isinstance(slot, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(ids, list) \
            or len(ids) != len(files):
        raise PublishError(f"{_who(channel)}: Одноклассники не дали адрес загрузки фото — повторим позже.", "garbage")
    try:
        form = {f"pic{n}": (_file_name(photo, n), photo.read(), photo.content_type) for n, photo in enumerate(files, 1)}
    except OSError as exc:
        raise PublishError(f"{_who(channel)}: не удалось прочитать фото из хранилища ({exc.__class__.__name__}) — "
                           "проверьте, что хранилище файлов доступно этому обработчику.", "unavailable") from exc
    try:
        resp = client.post(url, files=form, timeout=max(timeout(config), 60.0))
    except httpx.HTTPError as exc:
        raise PublishError(f"{_who(channel)}: загрузка фото в Одноклассники не удалась ({exc.__class__.__name__}) — "
                           "повторим позже.", "unavailable") from exc
    try:
        body = resp.json()
    except ValueError:
        body = None
    photos = body.get("photos") if isinstance(body, dict) else None
    if resp.status_code >= 400 or not isinstance(photos, dict):
        why = clip(body.get("error_msg") if isinstance(body, dict) else "", 120) or f"HTTP {resp.status_code}"
        raise PublishError(f"{_who(channel)}: Одноклассники не приняли фото ({why}) — проверьте файлы (JPG, PNG, "
                           "GIF) или повторим позже.", "garbage" if resp.status_code < 500 else "unavailable")
    tokens = []
    for pid in ids:
        token = photos.get(str(pid)) if isinstance(photos.get(str(pid)), dict) else None
        if not token or not isinstance(token.get("token"), str):
            raise PublishError(f"{_who(channel)}: Одноклассники не вернули токен одного из фото — повторим "
                               "позже.", "garbage")
        tokens.append(token["token"])
    return tokens


def _media(text: str, tokens: list[str], link: str | None) -> list[dict]:
    media: list[dict] = []
    if text:
        media.append({"type": "text", "text": text})
    if tokens:
        media.append({"type": "photo", "list": [{"id": t} for t in tokens]})
    if link:
        media.append({"type": "link", "url": link})
    return media


def _topic_id(answer: Any, channel: Channel) -> str:
    """mediatopic.post answers the new topic's id as a JSON string (or number)."""
    value = answer.get("id") if isinstance(answer, dict) else answer
    value = str(value).strip().strip('"') if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not (value.isascii() and value.isdigit()) or value == "0":
        raise PublishError(f"{_who(channel)}: Одноклассники ответили на mediatopic.post без номера темы — проверьте "
                           "группу.", "garbage", uncertain=True)
    return value


def send_part(channel: Channel, plan: Plan, k: int, photos: Sequence[PhotoFile], config: dict, *, guid: str | None,
              uploaded: dict, pacing: Pacing = PACING) -> Sent:
    """Post part `k` of `plan` (OK: one topic with the whole text and every photo). `guid` is ignored: OK has no
    idempotency key."""
    part = plan.parts[k]
    gid = _gid(channel)
    files = list(photos)[:part.photos] if part.photos else []
    link = part.options.get("link") if "link" in (part.options.get("media") or []) else None
    with httpx.Client() as client:
        tokens: list[str] = []
        if files:
            done = uploaded.get("ok")
            if isinstance(done, list) and len(done) == len(files) and all(isinstance(t, str) for t in done):
                tokens = list(done)
            else:
                tokens = _upload(gid, files, channel, config, pacing, client)
                uploaded["ok"] = tokens  # the outbox keeps it even if mediatopic.post fails
        attachment = json.dumps({"media": _media(part.text, tokens, link)}, ensure_ascii=False)
        try:
            answer = _call("mediatopic.post", {"type": "GROUP_THEME", "gid": gid, "attachment": attachment},
                           channel, config, pacing, sending=True, client=client)
        except PublishError as exc:
            if files and exc.code == 100:
                uploaded.pop("ok", None)  # OK refused the parameters: the tokens may have expired — upload anew
            raise
    topic = _topic_id(answer, channel)
    return Sent(external_id=topic, permalink=f"https://ok.ru/group/{gid}/topic/{topic}", ids=[topic])


# --- after publishing ---------------------------------------------------------------------------------------------
def _topic_ids(parts: Sequence[Any]) -> list[str]:
    ids: list[str] = []
    for part in parts or []:
        if isinstance(part, dict):
            values = part.get("ids") or [part.get("external_id")]
        elif isinstance(part, (list, tuple)):  # the outbox's `parts`: one list of platform ids per part
            values = list(part)
        else:
            values = [part]
        for value in values if isinstance(values, list) else [values]:
            text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
            if text.isascii() and text.isdigit() and text not in ids:
                ids.append(text)
    return ids


def _cannot(channel: Channel, detail: str = "") -> PublishError:
    return PublishError(f"Группа Одноклассников «{channel.name}»: {CANNOT_EDIT}{detail}.", "no_rights")


def edit(channel: Channel, parts: Sequence[Any], plan: Plan, config: dict, pacing: Pacing = PACING) -> None:
    """A text topic: mediatopic.edit with the new text (and link). A topic with photos is refused: the photos'
    upload tokens are spent, and OK's edit replaces the whole attachment."""
    gid = _gid(channel)
    ids = _topic_ids(parts)
    if not ids:
        raise PublishError(f"{_who(channel)}: нет номера опубликованной темы — изменить нечего.", "not_found")
    part = plan.parts[0] if plan.parts else None
    if part is None or part.photos:
        raise _cannot(channel, " (тему с фото API Одноклассников изменить не даёт)")
    link = part.options.get("link") if "link" in (part.options.get("media") or []) else None
    attachment = json.dumps({"media": _media(part.text, [], link)}, ensure_ascii=False)
    try:
        answer = _call("mediatopic.edit", {"topic_id": ids[0], "gid": gid, "attachment": attachment}, channel, config,
                       pacing)
    except PublishError as exc:
        if exc.code in (3, 100):  # no such method / the topic cannot be edited this way
            raise _cannot(channel, f" ({exc.message.rstrip('.')})") from exc
        raise
    if answer is False or (isinstance(answer, dict) and answer.get("success") is False):
        raise _cannot(channel)


def delete(channel: Channel, parts: Sequence[Any], config: dict, pacing: Pacing = PACING) -> None:
    """mediatopic.deleteTopic of the group's topic."""
    gid = _gid(channel)
    ids = _topic_ids(parts)
    if not ids:
        raise PublishError(f"{_who(channel)}: нет номера опубликованной темы — удалять нечего.", "not_found")
    for topic in ids:
        answer = _call("mediatopic.deleteTopic", {"topic_id": topic, "gid": gid}, channel, config, pacing)
        if answer is False or (isinstance(answer, dict) and answer.get("success") is False):
            raise PublishError(f"{_who(channel)}: Одноклассники не удалили тему {topic} — удалите её в группе "
                               "вручную.", "no_rights")
