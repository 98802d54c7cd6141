"""ВКонтакте: `groups.getById` (resolve, subscribers), `wall.get` (post total and recent posts) batched through
`execute` (at most 25 API calls a request), `groups.getTokenPermissions` / `account.getAppPermissions` (what a
token may do). Every call is paced per token: a community token 20 requests/s, a service key or a user token
3 requests/s (dev.vk.com «Ограничения и рекомендации»). Errors come as HTTP 200 `{"error": {error_code,
error_msg}}`; inside `execute` a failed call gives `false` and an entry in `execute_errors`.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx

from app.services.accounts.platforms.base import (
    PACING,
    Figures,
    Pacing,
    PlatformError,
    PostFigures,
    Resolved,
    Target,
    as_count,
    as_int,
    clip,
    json_body,
    retrying,
    status_error,
    timeout,
    transport_error,
)

API_VERSION = "5.199"
NAME = "ВКонтакте"
CALLS_PER_EXECUTE = 25  # VK's limit of API calls inside one execute
PER_EXECUTE = CALLS_PER_EXECUTE - 1  # accounts per execute: one groups.getById for all + one wall.get each
RECENT_POSTS = 20  # wall.get count (≤ 100)
RATE = {"community": 20.0, "service": 3.0, "user": 3.0}
GROUP_FIELDS = "members_count,photo_200,screen_name,is_closed,deactivated,type"

ERRORS: dict[int, tuple[str, str]] = {
    5: ("bad_token", "ключ доступа недействителен или отозван: введите новый ключ сообщества"),
    7: ("no_rights", "у ключа нет прав на это действие: выдайте права в настройках сообщества"),
    15: ("private", "доступ запрещён: сообщество закрыто или стена скрыта — откройте её или дайте ключ "
                    "администратора"),
    18: ("not_found", "страница удалена или заблокирована"),
    27: ("no_rights", "метод недоступен с ключом сообщества: нужен сервисный ключ или ключ пользователя"),
    30: ("private", "профиль закрыт настройками приватности"),
    100: ("not_found", "неверный параметр: такого сообщества нет или адрес указан неверно"),
    113: ("not_found", "неверный идентификатор"),
    203: ("private", "доступ к сообществу запрещён"),
}
RATE_LIMITED = {6: 1.0, 9: 60.0, 29: 3600.0}
PERMISSION_NAMES = {"messages": "сообщения", "wall": "стена", "manage": "управление сообществом",
                    "photos": "фотографии", "docs": "документы", "stories": "истории", "app_widget": "виджет",
                    "stats": "статистика", "groups": "сообщества", "offline": "бессрочный доступ", "video": "видео"}
USER_RIGHTS = {4: "photos", 16: "video", 8192: "wall", 65536: "offline", 131072: "docs", 262144: "groups",
               1048576: "stats", 4096: "messages"}


def error_from(err: Any) -> PlatformError:
    err = err if isinstance(err, dict) else {}
    code = as_int(err.get("error_code")) or 0
    msg = clip(err.get("error_msg"), 200)
    if code in RATE_LIMITED:
        exc = PlatformError(f"ВКонтакте просит подождать (ошибка {code}: {msg}).", "rate_limited", RATE_LIMITED[code])
    else:
        kind, reason = ERRORS.get(code, ("unavailable", "ошибка ВКонтакте, повторим при следующем сборе"))
        exc = PlatformError(f"ВКонтакте: {reason} (ошибка {code}: {msg}).", kind)
    exc.code, exc.platform_message = code, msg  # the publishing modules word errors by code (their own sentences)
    return exc


def default_token(config: dict) -> tuple[str, str]:
    """(token, kind) for calls without an account token: the service key, else the city's community token."""
    if config.get("VK_SERVICE_TOKEN"):
        return str(config["VK_SERVICE_TOKEN"]), "service"
    return str(config.get("VK_ACCESS_TOKEN") or ""), "community"


def _token(config: dict, token: str | None, kind: str = "community") -> tuple[str, str]:
    return (token, kind) if token else default_token(config)


def call(method: str, params: dict, token: str, config: dict, *, client: httpx.Client | None = None) -> Any:
    """One VK API method → `response`, or PlatformError. With execute, the whole body (execute_errors too)."""
    url = f"{str(config.get('VK_API_URL') or 'https://api.vk.com/method').rstrip('/')}/{method}"
    data = {k: str(v) for k, v in params.items() if v is not None}
    data.update(access_token=token, v=API_VERSION)
    try:
        resp = (client.post if client is not None else httpx.post)(url, data=data, timeout=timeout(config))
    except httpx.HTTPError as exc:
        raise transport_error(exc, NAME) from exc
    bad = status_error(resp, NAME)
    if bad is not None:
        raise bad
    body = json_body(resp, NAME)
    if not isinstance(body, dict):
        raise PlatformError("ВКонтакте ответил неожиданным JSON: повторим при следующем сборе.", "garbage")
    if "error" in body:
        raise error_from(body["error"])
    if "response" not in body:
        raise PlatformError("ВКонтакте ответил без поля response: повторим при следующем сборе.", "garbage")
    return body if method == "execute" else body["response"]


def _groups(found: Any) -> list[dict]:
    """groups.getById's answer in either shape: 5.194+ `{"groups": [...], "profiles": [...]}`, older `[...]`."""
    found = found.get("groups") if isinstance(found, dict) else found
    return [g for g in found if isinstance(g, dict)] if isinstance(found, list) else []


def _check_group(group: dict, what: str) -> None:
    if group.get("deactivated"):
        why = "заблокировано" if group.get("deactivated") == "banned" else "удалено"
        raise PlatformError(f"Сообщество ВКонтакте «{what}» {why}: проверьте адрес.", "not_found")
    if as_int(group.get("is_closed")):
        raise PlatformError(f"Сообщество ВКонтакте «{what}» закрытое или частное: его подписчиков и записи не "
                            "видно. Откройте сообщество или укажите другое.", "private")


def resolve(handle: str, config: dict, token: str | None = None, pacing: Pacing = PACING) -> Resolved:
    tok, kind = _token(config, token)
    pacer = pacing.for_token("vk", tok, RATE[kind])
    try:
        found = retrying(lambda: call("groups.getById", {"group_id": handle, "fields": GROUP_FIELDS}, tok, config),
                         pacer)
    except PlatformError as exc:
        if exc.kind == "not_found":
            raise PlatformError(f"Сообщества ВКонтакте «{handle}» нет: проверьте адрес (если это страница человека, "
                                "нужна страница сообщества).", "not_found") from exc
        raise
    groups = _groups(found)
    if not groups or not isinstance(groups[0].get("id"), int):
        raise PlatformError(f"Сообщества ВКонтакте «{handle}» нет: проверьте адрес.", "not_found")
    group = groups[0]
    _check_group(group, handle)
    screen = clip(group.get("screen_name") or f"club{group['id']}", 120)
    return Resolved(network="vk", external_id=str(group["id"]), handle=screen, url=f"https://vk.com/{screen}",
                    title=clip(group.get("name") or screen, 300), followers=as_count(group.get("members_count")),
                    avatar_url=group.get("photo_200") if isinstance(group.get("photo_200"), str) else None)


def check_token(external_id: str, token: str, config: dict, kind: str = "community",
                pacing: Pacing = PACING) -> str:
    """What the token may do, in Russian. A community token must belong to this community."""
    pacer = pacing.for_token("vk", token, RATE.get(kind, 3.0))
    if kind == "user":
        mask = retrying(lambda: call("account.getAppPermissions", {}, token, config), pacer)
        mask = as_int(mask) or 0
        names = [PERMISSION_NAMES[n] for bit, n in sorted(USER_RIGHTS.items()) if mask & bit]
        return "Ключ пользователя ВКонтакте: " + (", ".join(names) if names else "без прав") + "."
    try:
        own = _groups(retrying(lambda: call("groups.getById", {}, token, config), pacer))
    except PlatformError as exc:
        if exc.kind != "not_found":
            raise
        raise PlatformError("Это не ключ сообщества ВКонтакте (похоже, ключ пользователя или сервисный): создайте "
                            "ключ в настройках сообщества, «Работа с API».", "bad_token") from exc
    if own and str(own[0].get("id")) != str(external_id):
        raise PlatformError(f"Это ключ другого сообщества ВКонтакте (id {own[0].get('id')}), а не этого "
                            f"(id {external_id}): создайте ключ в настройках нужного сообщества.", "bad_token")
    perms = retrying(lambda: call("groups.getTokenPermissions", {}, token, config), pacer)
    items = perms.get("permissions") if isinstance(perms, dict) else None
    names = [PERMISSION_NAMES.get(str(p.get("name")), str(p.get("name")))
             for p in items or [] if isinstance(p, dict) and p.get("name")]
    text = "Ключ сообщества ВКонтакте: " + (", ".join(names) if names else "без прав")
    if "messages" not in {str(p.get("name")) for p in items or [] if isinstance(p, dict)}:
        text += " (нет доступа к сообщениям: бот не сможет отвечать жителям)"
    return clip(text + ".", 500)


# --- collection --------------------------------------------------------------------------------------------
def _code(group_ids: list[str]) -> str:
    """VKScript for one execute: groups.getById of every community, then wall.get of each (JSON arguments)."""
    calls = [f"API.groups.getById({json.dumps({'group_ids': ','.join(group_ids), 'fields': GROUP_FIELDS})})"]
    calls += [f"API.wall.get({json.dumps({'owner_id': -int(g), 'count': RECENT_POSTS})})" for g in group_ids]
    return "return [" + ",".join(calls) + "];"


def _post(item: dict, gid: str) -> PostFigures | None:
    pid = as_int(item.get("id"))
    ts = as_int(item.get("date"))
    if pid is None or ts is None:
        return None

    def count(key: str) -> int | None:
        return as_count(item[key].get("count")) if isinstance(item.get(key), dict) else None

    attachments = item.get("attachments") if isinstance(item.get("attachments"), list) else []
    return PostFigures(external_id=str(pid), published_at=datetime.fromtimestamp(ts, tz=timezone.utc),
                       text=item.get("text") if isinstance(item.get("text"), str) else "",
                       permalink=f"https://vk.com/wall-{gid}_{pid}", media_count=len(attachments),
                       views=count("views"), reactions=count("likes"), comments=count("comments"),
                       reposts=count("reposts"))


def _figures(target: Target, groups: dict[str, dict], wall: Any, wall_error: PlatformError | None) -> Figures:
    gid = target.external_id
    group = groups.get(gid)
    if group is None:
        raise PlatformError(f"Сообщества ВКонтакте id {gid} нет (ВКонтакте его не вернул): проверьте адрес "
                            "аккаунта.", "not_found")
    _check_group(group, group.get("name") or gid)
    followers = as_count(group.get("members_count"))
    if followers is None:
        raise PlatformError("ВКонтакте не сообщил число подписчиков сообщества (members_count).", "garbage")
    if wall_error is not None:
        raise wall_error
    if not isinstance(wall, dict) or as_count(wall.get("count")) is None:
        raise PlatformError("ВКонтакте ответил на wall.get без числа записей: повторим при следующем сборе.",
                            "garbage")
    items = wall.get("items") if isinstance(wall.get("items"), list) else []
    posts = [p for p in (_post(i, gid) for i in items if isinstance(i, dict)) if p is not None]
    photo = group.get("photo_200")
    return Figures(followers=followers, posts_total=as_count(wall.get("count")), posts=posts,
                   avatar_url=photo if isinstance(photo, str) else None,
                   title=clip(group.get("name"), 300) or None)


def _execute(targets: list[Target], token: str, config: dict, pacer, client) -> dict[int, Figures | PlatformError]:
    ids = [t.external_id for t in targets]
    body = retrying(lambda: call("execute", {"code": _code(ids)}, token, config, client=client), pacer)
    result = body.get("response")
    if not isinstance(result, list) or len(result) != len(ids) + 1:
        raise PlatformError("ВКонтакте ответил на execute неожиданным JSON: повторим при следующем сборе.",
                            "garbage")
    errors = [e for e in body.get("execute_errors") or [] if isinstance(e, dict)]
    failed = iter(errors)
    outcome: list[Any] = []
    for value in result:
        outcome.append(error_from(next(failed, {})) if value is False else value)
    if isinstance(outcome[0], PlatformError):
        raise outcome[0]
    groups = {str(g.get("id")): g for g in _groups(outcome[0])}
    out: dict[int, Figures | PlatformError] = {}
    for target, wall in zip(targets, outcome[1:], strict=True):
        try:
            out[target.account_id] = _figures(target, groups, None if isinstance(wall, PlatformError) else wall,
                                              wall if isinstance(wall, PlatformError) else None)
        except PlatformError as exc:
            out[target.account_id] = exc
    return out


def collect_many(targets: list[Target], config: dict, pacing: Pacing = PACING) -> dict[int, Figures | PlatformError]:
    """Figures of many communities: PER_EXECUTE a request per token. A request that fails as a whole (HTTP 5xx,
    garbage, a timeout) is tried again account by account, so one community's failure marks only that one."""
    out: dict[int, Figures | PlatformError] = {}
    by_token: dict[tuple[str, str], list[Target]] = {}
    for t in targets:
        if not (str(t.external_id).isascii() and str(t.external_id).isdigit()):
            out[t.account_id] = PlatformError("У аккаунта ВКонтакте нет числового id сообщества: добавьте его "
                                              "заново по адресу.", "not_found")
            continue
        by_token.setdefault(_token(config, t.token), []).append(t)
    with httpx.Client() as client:
        for (token, kind), group in by_token.items():
            pacer = pacing.for_token("vk", token, RATE[kind])
            for start in range(0, len(group), PER_EXECUTE):
                chunk = group[start:start + PER_EXECUTE]
                try:
                    out.update(_execute(chunk, token, config, pacer, client))
                except PlatformError as exc:
                    if len(chunk) == 1 or exc.kind in ("bad_token", "rate_limited"):
                        out.update({t.account_id: exc for t in chunk})
                        continue
                    for t in chunk:  # find the one that breaks the batch
                        try:
                            out.update(_execute([t], token, config, pacer, client))
                        except PlatformError as one:
                            out[t.account_id] = one
    return out
