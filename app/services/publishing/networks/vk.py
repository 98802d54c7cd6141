"""Publishing to a VK community wall (the interface in base.py).

Text: `wall.post(owner_id=-gid, from_group=1, message, guid[, attachments=<link>])` with the community token (or the
user token when that is all the account has). Photos (a community token gets error 27 on photos.getWallUploadServer,
PLATFORM-NOTES §1 VK): with the user token of a community admin — `photos.getWallUploadServer(group_id)` → each file
POSTed as multipart field `photo` to `upload_url` (not an API call) → `{server, photo, hash}` → one `execute` running
every `photos.saveWallPhoto(group_id, server, photo, hash)` and the `wall.post` whose attachments are the saved photos
(`photo<owner_id>_<id>`): two API calls a post whatever the number of photos, so one user token (3 requests/s) can
post 5 photos to 25 communities in ~25 s, or ~13 s when `prefetch_upload_servers` fetched the 25 upload addresses in
one execute first.

`uploaded["vk"]`: the saved photos' attachment strings (["photo-123_457", …]), recorded as soon as VK saved them, so a
retry posts them without uploading again. `guid` makes wall.post idempotent (the same guid on the same wall gives the
same post, dev.vk.com/method/wall.post), so a dropped connection after wall.post is `uncertain` but safe to retry.
Sent: external_id = post_id, ids = [post_id], permalink https://vk.com/wall-<gid>_<post_id>. `parts` given to edit /
delete are what the outbox stored per accepted part: a Sent-like dict ({"external_id", "ids", …}), or the id itself.

Pacing per token (app/services/accounts/platforms/base.Pacing, shared with the collection): community 20 requests/s,
user 3 requests/s; VK error 6 («too many requests per second») is waited out and retried, a wait longer than
MAX_WAIT seconds is raised as rate_limited with retry_after for the outbox to schedule.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Sequence

import httpx

from app.services.accounts.platforms import vk as vk_api
from app.services.accounts.platforms.base import PACING, Pacer, Pacing, PlatformError, as_int, clip, retrying, timeout
from app.services.publishing.limits import Plan
from app.services.publishing.networks.base import Channel, PhotoFile, PublishError, Rights, Sent, worded

NAME = "ВКонтакте"
MAX_WAIT = 10.0  # seconds a publishing worker waits out a rate limit itself; longer: rate_limited to the outbox
WALL_RIGHT, PHOTOS_RIGHT = 8192, 4  # account.getAppPermissions bits (dev.vk.com «Права доступа для токена»)
EDITOR_LEVEL = 2  # groups.getById admin_level: 1 moderator, 2 editor, 3 administrator — an editor may post
UPLOAD_TTL = 600.0  # seconds a prefetched upload address is used (VK gives no expiry; kept short)

PHOTO_NEEDS_USER = ("Ключ сообщества публикует только текст: для постов с фото добавьте ключ "
                    "пользователя-администратора (ВКонтакте, ошибка 27)")

# Error code → (kind, what happened and what to do). Codes: dev.vk.com «Коды ошибок»; 214 / 219 as the lead's notes
# name them (not confirmed against VK's list); 1051 — a VK ID token (vk2.a.*) on wall.post (PLATFORM-NOTES §1).
ERRORS: dict[int, tuple[str, str]] = {
    5: ("bad_token", "ключ доступа недействителен или отозван — введите новый ключ в карточке аккаунта"),
    7: ("no_rights", "у ключа нет прав на это действие — выдайте ключу право «стена» (для фото — ключ "
                     "пользователя-администратора с правами «стена» и «фотографии»)"),
    15: ("no_rights", "публикация запрещена: ключ не даёт писать на стену сообщества — выдайте ключу право «стена» "
                      "или добавьте ключ администратора"),
    18: ("not_found", "сообщество удалено или заблокировано — проверьте аккаунт"),
    27: ("no_rights", PHOTO_NEEDS_USER[0].lower() + PHOTO_NEEDS_USER[1:]),
    100: ("not_found", "ВКонтакте не принял параметры: сообщество или запись не найдены — проверьте аккаунт"),
    113: ("not_found", "неверный идентификатор сообщества — добавьте аккаунт заново по адресу"),
    203: ("private", "доступ к сообществу запрещён — проверьте, что ключ выдан администратором этого сообщества"),
    214: ("no_rights", "публикация запрещена: стена сообщества закрыта или публикации ограничены — откройте стену "
                       "в настройках сообщества"),
    219: ("not_found", "публикация удалена или недоступна — на стене её больше нет"),
    1051: ("bad_token", "ключ VK ID не подходит для публикации — нужен ключ сообщества (vk1.a.…) или ключ "
                        "пользователя-администратора"),
}
RATE_LIMITED = vk_api.RATE_LIMITED  # 6: 1 s, 9 (flood control): 60 s, 29 (method's daily limit): 3600 s
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)  # the request never left: nothing can have happened


# --- words --------------------------------------------------------------------------------------------------------
def _who(channel: Channel) -> str:
    return f"{NAME} «{channel.name}»"


def _error(code: int, msg: str, channel: Channel, *, uncertain: bool = False) -> PublishError:
    return worded(_who(channel), code, clip(msg, 200), ERRORS, RATE_LIMITED, asks="ВКонтакте просит",
                  unknown="ошибка ВКонтакте — повторим позже; если повторяется, сообщите администратору",
                  uncertain=uncertain)


def _translate(exc: PlatformError, channel: Channel, sending: bool) -> PublishError:
    """A read-side PlatformError (platforms/vk.call) in publishing words. `sending`: the call may create a post, so
    a request that left and got no answer is `uncertain`."""
    if exc.code is not None:
        return _error(exc.code, exc.platform_message, channel)
    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPError):
        uncertain = sending and not isinstance(cause, _CONNECT_ERRORS)
        what = "не ответил вовремя" if isinstance(cause, httpx.TimeoutException) else "оборвал соединение"
        if isinstance(cause, _CONNECT_ERRORS):
            what = "недоступен"
        tail = (" — запрос мог дойти: повторим с тем же guid, ВКонтакте не опубликует дважды." if uncertain
                else " — повторим позже.")
        return PublishError(f"{_who(channel)}: ВКонтакте {what} ({cause.__class__.__name__}){tail}", "unavailable",
                            uncertain=uncertain)
    if exc.kind == "rate_limited":
        return PublishError(f"{_who(channel)}: {exc.message} Повторим через {exc.retry_after or 1:.0f} с.",
                            "rate_limited", exc.retry_after)
    return PublishError(f"{_who(channel)}: {exc.message}", exc.kind, exc.retry_after,
                        uncertain=sending and exc.kind == "garbage")


# --- calls --------------------------------------------------------------------------------------------------------
def _pacer(pacing: Pacing, token: str, kind: str) -> Pacer:
    return pacing.for_token("vk", token, vk_api.RATE[kind])


def _paced(call: Callable[[], Any], pacer: Pacer) -> Any:
    """`call()` in the token's turn; a rate limit up to MAX_WAIT is waited out (at most RETRIES times), a longer one
    is raised for the outbox to schedule."""
    return retrying(call, pacer, MAX_WAIT)


def _call(method: str, params: dict, token: str, kind: str, channel: Channel, config: dict, pacing: Pacing, *,
          sending: bool = False, client: httpx.Client | None = None) -> Any:
    def once():
        try:
            return vk_api.call(method, params, token, config, client=client)
        except PlatformError as exc:
            raise _translate(exc, channel, sending) from exc
    return _paced(once, _pacer(pacing, token, kind))


def _execute_results(body: Any, channel: Channel) -> tuple[Any, list[dict]]:
    """An execute body → (response, execute_errors)."""
    if not isinstance(body, dict) or "response" not in body:
        raise PublishError(f"{_who(channel)}: ВКонтакте ответил на execute неожиданным JSON — повторим позже.",
                           "garbage")
    errors = [e for e in body.get("execute_errors") or [] if isinstance(e, dict)]
    return body["response"], errors


def _error_of(errors: list[dict], method: str, channel: Channel, *, uncertain: bool = False) -> PublishError:
    found = next((e for e in errors if e.get("method") == method), errors[0] if errors else {})
    return _error(as_int(found.get("error_code")) or 0, str(found.get("error_msg") or ""), channel,
                  uncertain=uncertain)


def _gid(channel: Channel) -> int:
    gid = str(channel.external_id or "").lstrip("-")
    if not (gid.isascii() and gid.isdigit()):
        raise PublishError(f"{_who(channel)}: у аккаунта нет числового id сообщества — добавьте его заново по "
                           "адресу.", "not_found")
    return int(gid)


def _no_key(channel: Channel) -> str:
    return (f"{_who(channel)}: у аккаунта нет ключа — добавьте ключ сообщества с правом «стена» (для постов с фото "
            "— и ключ пользователя-администратора).")


# --- rights -------------------------------------------------------------------------------------------------------
def _community_check(channel: Channel, gid: int, config: dict, pacing: Pacing) -> str | None:
    """None when the community token may post on this wall, else the Russian reason."""
    code = "return [API.groups.getById({}), API.groups.getTokenPermissions({})];"
    body = _call("execute", {"code": code}, channel.token, "community", channel, config, pacing)
    result, errors = _execute_results(body, channel)
    if not isinstance(result, list) or len(result) != 2:
        raise PublishError(f"{_who(channel)}: ВКонтакте ответил на проверку прав неожиданным JSON.", "garbage")
    own, perms = result
    if own is False or perms is False:
        failed = _error_of(errors, "groups.getTokenPermissions" if own is not False else "groups.getById", channel)
        if failed.kind in ("rate_limited", "unavailable", "garbage"):
            raise failed
        if as_int(next((e.get("error_code") for e in errors), 0)) in (15, 27):
            return (f"{_who(channel)}: это не ключ сообщества (похоже, ключ пользователя) — создайте ключ в "
                    "настройках сообщества, «Работа с API», с правом «стена».")
        return failed.message
    groups = vk_api._groups(own)
    if groups and str(groups[0].get("id")) != str(gid):
        return (f"{_who(channel)}: это ключ другого сообщества ВКонтакте (id {groups[0].get('id')}), а не этого "
                f"(id {gid}) — создайте ключ в настройках нужного сообщества.")
    names = {str(p.get("name")) for p in (perms.get("permissions") or [] if isinstance(perms, dict) else [])
             if isinstance(p, dict)}
    if "wall" not in names:
        return (f"{_who(channel)}: ключу сообщества не выдано право «стена» — выдайте ключу право «стена» в "
                "настройках сообщества («Работа с API») или создайте новый ключ с этим правом.")
    return None


def _user_check(channel: Channel, gid: int, config: dict, pacing: Pacing) -> str | None:
    """None when the user token may post with photos on this wall (rights «стена» and «фотографии», an admin or
    editor of the community), else the Russian reason."""
    args = json.dumps({"group_id": gid, "fields": "is_admin,admin_level"})
    code = f"return [API.account.getAppPermissions(), API.groups.getById({args})];"
    body = _call("execute", {"code": code}, channel.user_token, "user", channel, config, pacing)
    result, errors = _execute_results(body, channel)
    if not isinstance(result, list) or len(result) != 2:
        raise PublishError(f"{_who(channel)}: ВКонтакте ответил на проверку прав неожиданным JSON.", "garbage")
    mask, found = result
    if mask is False:
        if as_int(next((e.get("error_code") for e in errors), 0)) == 27:
            return (f"{_who(channel)}: вместо ключа пользователя указан ключ сообщества — для фото нужен ключ "
                    "пользователя-администратора с правами «стена» и «фотографии».")
        failed = _error_of(errors, "account.getAppPermissions", channel)
        if failed.kind in ("rate_limited", "unavailable", "garbage"):
            raise failed
        return failed.message
    mask = as_int(mask) or 0
    missing = [name for bit, name in ((WALL_RIGHT, "«стена»"), (PHOTOS_RIGHT, "«фотографии»")) if not mask & bit]
    if missing:
        return (f"{_who(channel)}: ключу пользователя не выданы права {' и '.join(missing)} — получите ключ заново с "
                "этими правами.")
    groups = vk_api._groups(found) if found is not False else []
    group = groups[0] if groups else {}
    if not as_int(group.get("is_admin")) or (as_int(group.get("admin_level")) or 0) < EDITOR_LEVEL:
        return (f"{_who(channel)}: пользователь, чей ключ указан, не администратор и не редактор сообщества — "
                "назначьте его редактором или укажите ключ администратора.")
    return None


def check_rights(channel: Channel, config: dict, pacing: Pacing = PACING) -> Rights:
    """May the app post here, with photos or text only, and why. Raises PublishError only when VK could not be
    asked (rate limit, VK unavailable): a definite answer — a missing right, a wrong or revoked key — is a Rights."""
    try:
        gid = _gid(channel)
    except PublishError as exc:
        return Rights(False, False, exc.message)
    if not channel.token and not channel.user_token:
        return Rights(False, False, _no_key(channel))
    try:
        text_problem = _community_check(channel, gid, config, pacing) if channel.token else None
    except PublishError as exc:
        if exc.kind in ("rate_limited", "unavailable", "garbage"):
            raise
        text_problem = exc.message
    if text_problem:
        return Rights(False, False, text_problem)
    if not channel.user_token:
        return Rights(True, False, f"{_who(channel)}. {PHOTO_NEEDS_USER}.")
    try:
        photo_problem = _user_check(channel, gid, config, pacing)
    except PublishError as exc:
        if exc.kind in ("rate_limited", "unavailable", "garbage"):
            raise
        photo_problem = exc.message
    if not channel.token:
        if photo_problem:
            return Rights(False, False, photo_problem)
        return Rights(True, True, f"{_who(channel)}: можно публиковать текст и фото ключом "
                                  "пользователя-администратора.")
    if photo_problem:
        return Rights(True, False, f"Текст можно публиковать ключом сообщества, а фото — нет. {photo_problem}")
    return Rights(True, True, f"{_who(channel)}: можно публиковать — текст ключом сообщества, фото ключом "
                              "пользователя-администратора.")


# --- sending ------------------------------------------------------------------------------------------------------
def _file_name(photo: PhotoFile, number: int) -> str:
    """An ASCII file name for the multipart part («photo1.jpg»): upload servers need no Cyrillic from us."""
    return f"photo{number}.{photo.filename.rsplit('.', 1)[-1]}"


_servers: dict[tuple[str, int], tuple[str, float]] = {}  # (user token, gid) → (upload_url, monotonic time)
_servers_lock = threading.Lock()


def prefetch_upload_servers(channels: Sequence[Channel], config: dict, pacing: Pacing = PACING) -> int:
    """Optional, for the outbox before posting photos to many communities: one execute per user token and 25
    communities asks photos.getWallUploadServer of each, so each send_part then makes one API call instead of two.
    Returns the number of addresses kept; failures are ignored (send_part then asks itself)."""
    by_token: dict[str, list[tuple[Channel, int]]] = {}
    for channel in channels:
        try:
            gid = _gid(channel)
        except PublishError:
            continue
        if channel.user_token:
            by_token.setdefault(channel.user_token, []).append((channel, gid))
    kept = 0
    for token, items in by_token.items():
        for start in range(0, len(items), vk_api.CALLS_PER_EXECUTE):
            chunk = items[start:start + vk_api.CALLS_PER_EXECUTE]
            code = "return [" + ",".join(f"API.photos.getWallUploadServer({json.dumps({'group_id': gid})})"
                                         for _, gid in chunk) + "];"
            try:
                body = _call("execute", {"code": code}, token, "user", chunk[0][0], config, pacing)
                result, _ = _execute_results(body, chunk[0][0])
            except PublishError:
                continue
            result = result if isinstance(result, list) else [result]
            for (_, gid), server in zip(chunk, result, strict=False):
                if isinstance(server, dict) and isinstance(server.get("upload_url"), str):
                    with _servers_lock:
                        _servers[(token, gid)] = (server["upload_url"], time.monotonic())
                    kept += 1
    return kept


def _upload_url(channel: Channel, gid: int, config: dict, pacing: Pacing, client: httpx.Client) -> str:
    with _servers_lock:
        cached = _servers.pop((channel.user_token, gid), None)
    if cached and time.monotonic() - cached[1] < UPLOAD_TTL:
        return cached[0]
    server = _call("photos.getWallUploadServer", {"group_id": gid}, channel.user_token, "user", channel, config,
                   pacing, client=client)
    url = server.get("upload_url") if isinstance(server, dict) else None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise PublishError(f"{_who(channel)}: ВКонтакте не дал адрес загрузки фото — повторим позже.", "garbage")
    return url


def _upload(url: str, photo: PhotoFile, number: int, channel: Channel, config: dict,
            client: httpx.Client) -> dict:
    """One file to VK's upload server (multipart field `photo`) → {server, photo, hash}."""
    try:
        resp = client.post(url, files={"photo": (_file_name(photo, number), photo.read(), photo.content_type)},
                           timeout=max(timeout(config), 30.0))
    except OSError as exc:
        raise PublishError(f"{_who(channel)}: не удалось прочитать фото №{number} из хранилища "
                           f"({exc.__class__.__name__}) — проверьте, что хранилище файлов доступно этому обработчику.",
                           "unavailable") from exc
    except httpx.HTTPError as exc:
        raise PublishError(f"{_who(channel)}: загрузка фото №{number} на сервер ВКонтакте не удалась "
                           f"({exc.__class__.__name__}) — повторим позже.", "unavailable") from exc
    if resp.status_code >= 400:
        raise PublishError(f"{_who(channel)}: сервер загрузки ВКонтакте ответил HTTP {resp.status_code} на фото "
                           f"№{number} — повторим позже.", "unavailable")
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), (dict, str)):
        error = body["error"]
        text = error.get("error_msg") if isinstance(error, dict) else error
        raise PublishError(f"{_who(channel)}: ВКонтакте не принял фото №{number} ({clip(text, 120)}) — проверьте "
                           "файл (JPG, PNG или GIF, до 50 МБ).", "garbage")
    if not isinstance(body, dict) or not body.get("hash") or body.get("photo") in (None, "", "[]"):
        raise PublishError(f"{_who(channel)}: ВКонтакте не принял фото №{number} (пустой ответ сервера загрузки) — "
                           "проверьте файл (JPG, PNG или GIF).", "garbage")
    return {"server": body.get("server"), "photo": body.get("photo"), "hash": body.get("hash")}


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _save_and_post_code(gid: int, uploads: list[dict], post: dict, link: str | None) -> str:
    """VKScript: every photos.saveWallPhoto, then wall.post with the saved photos (and the link) as attachments."""
    lines = [f"var s{i} = API.photos.saveWallPhoto({_js({'group_id': gid, **u})});" for i, u in enumerate(uploads)]
    attachments = ' + "," + '.join(f'"photo" + s{i}[0].owner_id + "_" + s{i}[0].id' for i in range(len(uploads)))
    if link:
        attachments += f' + "," + {_js(link)}'
    fields = ", ".join(f"{_js(k)}: {_js(v)}" for k, v in post.items() if v is not None)
    saved = ", ".join(f"s{i}" for i in range(len(uploads)))
    lines.append(f'return {{"saved": [{saved}], "post": API.wall.post({{{fields}, "attachments": {attachments}}})}};')
    return "\n".join(lines)


def _sent(gid: int, answer: Any, channel: Channel) -> Sent:
    post_id = as_int(answer.get("post_id")) if isinstance(answer, dict) else None
    if post_id is None:
        raise PublishError(f"{_who(channel)}: ВКонтакте ответил на wall.post без номера записи — проверьте стену; "
                           "повтор с тем же guid не опубликует дважды.", "garbage", uncertain=True)
    return Sent(external_id=str(post_id), permalink=f"https://vk.com/wall-{gid}_{post_id}", ids=[str(post_id)])


def _saved_attachment(saved: Any) -> str | None:
    item = saved[0] if isinstance(saved, list) and saved else saved
    if not isinstance(item, dict):
        return None
    owner, pid = item.get("owner_id"), as_int(item.get("id"))
    if not isinstance(owner, int) or isinstance(owner, bool) or pid is None:
        return None
    return f"photo{owner}_{pid}"


def send_part(channel: Channel, plan: Plan, k: int, photos: Sequence[PhotoFile], config: dict, *, guid: str | None,
              uploaded: dict, pacing: Pacing = PACING) -> Sent:
    """Post part `k` of `plan` (VK: one wall.post with every photo). See the module docstring."""
    part = plan.parts[k]
    gid = _gid(channel)
    files = list(photos)[:part.photos] if part.photos else []
    link = part.options.get("link") if "link" in (part.options.get("attachments") or []) else None
    post = {"owner_id": -gid, "from_group": 1, "message": part.text or None, "guid": guid or None}
    if not files:
        token, kind = (channel.token, "community") if channel.token else (channel.user_token, "user")
        if not token:
            raise PublishError(_no_key(channel), "bad_token")
        params = {**post, "attachments": link}
        return _sent(gid, _call("wall.post", params, token, kind, channel, config, pacing, sending=True), channel)
    if not channel.user_token:
        raise PublishError(f"{_who(channel)}. {PHOTO_NEEDS_USER}.", "no_rights")
    token = channel.user_token
    done = uploaded.get("vk")
    with httpx.Client() as client:
        if isinstance(done, list) and len(done) == len(files) and all(isinstance(a, str) for a in done):
            params = {**post, "attachments": ",".join(done + ([link] if link else []))}
            return _sent(gid, _call("wall.post", params, token, "user", channel, config, pacing, sending=True,
                                    client=client), channel)
        url = _upload_url(channel, gid, config, pacing, client)
        uploads = [_upload(url, photo, n, channel, config, client) for n, photo in enumerate(files, start=1)]
        body = _call("execute", {"code": _save_and_post_code(gid, uploads, post, link)}, token, "user", channel,
                     config, pacing, sending=True, client=client)
    result, errors = _execute_results(body, channel)
    if not isinstance(result, dict):
        raise PublishError(f"{_who(channel)}: ВКонтакте ответил на публикацию неожиданным JSON — проверьте стену; "
                           "повтор с тем же guid не опубликует дважды.", "garbage", uncertain=True)
    saved = [_saved_attachment(s) for s in result.get("saved") or []]
    if len(saved) == len(files) and all(saved):
        uploaded["vk"] = saved  # the outbox keeps it even if wall.post failed: a retry does not upload again
    elif result.get("post") in (False, None):
        failed = _error_of(errors, "photos.saveWallPhoto", channel)
        if failed.kind == "not_found":  # VK did not take an uploaded photo (its hash, its server): upload again
            raise PublishError(f"{_who(channel)}: ВКонтакте не сохранил загруженное фото ({failed.code}: "
                               f"{failed.platform_message}) — загрузим заново при следующей попытке.", "unavailable")
        raise failed
    if result.get("post") is False:
        raise _error_of(errors, "wall.post", channel)
    return _sent(gid, result.get("post"), channel)


# --- after publishing ---------------------------------------------------------------------------------------------
def _post_ids(parts: Sequence[Any]) -> list[int]:
    ids: list[int] = []
    for part in parts or []:
        if isinstance(part, dict):
            values = part.get("ids") or [part.get("external_id")]
        elif isinstance(part, (list, tuple)):  # the outbox's `parts`: one list of platform ids per part
            values = list(part)
        else:
            values = [part]
        for value in values if isinstance(values, list) else [values]:
            n = as_int(value if not isinstance(value, str) else value.strip())
            if n is not None and n not in ids:
                ids.append(n)
    return ids


def _change_token(channel: Channel, plan: Plan | None) -> tuple[str, str]:
    """The community token edits and deletes the community's posts; a post with photos was made with the user
    token, and its attachments are kept by passing them again, so the user token edits it when there is one."""
    with_photos = bool(plan and plan.parts and plan.parts[0].photos)
    if channel.user_token and (with_photos or not channel.token):
        return channel.user_token, "user"
    if channel.token:
        return channel.token, "community"
    raise PublishError(_no_key(channel), "bad_token")


def edit(channel: Channel, parts: Sequence[Any], plan: Plan, config: dict, pacing: Pacing = PACING,
         *, uploaded: dict | None = None) -> None:
    """wall.edit of the published post with the plan's new text; its photos (uploaded["vk"] when given, else the
    post's current attachments read with wall.getById) and the link stay."""
    gid = _gid(channel)
    ids = _post_ids(parts)
    if not ids:
        raise PublishError(f"{_who(channel)}: нет номера опубликованной записи — изменить нечего.", "not_found")
    token, kind = _change_token(channel, plan)
    part = plan.parts[0] if plan.parts else None
    attachments = list((uploaded or {}).get("vk") or [])
    if not attachments and part and part.photos:
        found = _call("wall.getById", {"posts": f"-{gid}_{ids[0]}"}, token, kind, channel, config, pacing)
        items = found.get("items") if isinstance(found, dict) else found
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        for a in item.get("attachments") or []:
            if isinstance(a, dict) and a.get("type") == "photo" and isinstance(a.get("photo"), dict):
                ref = _saved_attachment(a["photo"])
                if ref:
                    attachments.append(ref)
    link = part.options.get("link") if part and "link" in (part.options.get("attachments") or []) else None
    if link:
        attachments.append(link)
    params = {"owner_id": -gid, "post_id": ids[0], "message": part.text if part else "",
              "attachments": ",".join(attachments) or None}
    _call("wall.edit", params, token, kind, channel, config, pacing)


def delete(channel: Channel, parts: Sequence[Any], config: dict, pacing: Pacing = PACING) -> None:
    """wall.delete of every post the delivery created."""
    gid = _gid(channel)
    ids = _post_ids(parts)
    if not ids:
        raise PublishError(f"{_who(channel)}: нет номера опубликованной записи — удалять нечего.", "not_found")
    token, kind = (channel.token, "community") if channel.token else (channel.user_token, "user")
    if not token:
        raise PublishError(_no_key(channel), "bad_token")
    for post_id in ids:
        _call("wall.delete", {"owner_id": -gid, "post_id": post_id}, token, kind, channel, config, pacing)
