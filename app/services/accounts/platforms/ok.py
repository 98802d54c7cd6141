"""Одноклассники through the signed REST API (`{OK_API_URL}/fb.do`, `sig` as app/channels/ok.rest_signature):
`url.getInfo` + `group.getInfo` (resolve), `group.getCounters(members, themes)` (subscribers and topics — the
group's posts). Errors are `{"error_code", "error_msg"}`. Recent posts' metrics are not collected: the stream
methods were not verified (docs/PLATFORM-NOTES).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from app.channels.ok import rest_signature
from app.services.accounts.platforms.base import (
    PACING,
    Figures,
    Pacing,
    PlatformError,
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

NAME = "Одноклассники"
RATE = 20.0  # requests a second per token (OK publishes no figure: kept modest)
CONCURRENCY = 4
ERRORS: dict[int, tuple[str, str]] = {
    10: ("no_rights", "нет прав: приложению нужны права VALUABLE_ACCESS и GROUP_CONTENT, а ключу — доступ к группе"),
    100: ("not_found", "неверный параметр: такой группы нет или адрес указан неверно"),
    101: ("bad_token", "неверный ключ приложения: проверьте OK_APPLICATION_KEY"),
    102: ("bad_token", "ключ доступа истёк: введите новый ключ группы"),
    103: ("bad_token", "ключ доступа недействителен: введите новый ключ группы"),
    104: ("bad_token", "неверная подпись запроса: проверьте OK_APPLICATION_SECRET_KEY"),
    160: ("not_found", "группы с таким id нет"),
    300: ("not_found", "группа не найдена"),
    455: ("private", "группа закрыта"),
}
RATE_LIMITED = {8: 60.0, 11: 60.0}  # FLOOD_BLOCKED, LIMIT_REACHED


def error_from(body: dict, status: int) -> PlatformError:
    code = as_int(body.get("error_code")) or 0
    msg = clip(body.get("error_msg"), 200)
    if code in RATE_LIMITED:
        exc = PlatformError(f"Одноклассники просят подождать (ошибка {code}: {msg}).", "rate_limited",
                            RATE_LIMITED[code])
    else:
        kind, reason = ERRORS.get(code, ("unavailable", "ошибка Одноклассников, повторим при следующем сборе"))
        exc = PlatformError(f"Одноклассники: {reason} (ошибка {code}: {msg}).", kind)
    exc.code, exc.platform_message = code, msg  # the publishing modules word errors by code (their own sentences)
    return exc


def default_token(config: dict) -> str:
    return str(config.get("OK_REST_ACCESS_TOKEN") or config.get("OK_ACCESS_TOKEN") or "")


def call(method: str, params: dict, token: str, config: dict, *, client: httpx.Client | None = None) -> Any:
    query = {k: str(v) for k, v in params.items() if v is not None}
    query.update(method=method, format="json", application_key=str(config.get("OK_APPLICATION_KEY") or ""))
    query["sig"] = rest_signature(query, token, str(config.get("OK_APPLICATION_SECRET_KEY") or ""))
    query["access_token"] = token
    base = str(config.get("OK_API_URL") or "https://api.ok.ru").rstrip("/")
    try:
        resp = (client.post if client is not None else httpx.post)(f"{base}/fb.do", data=query,
                                                                    timeout=timeout(config))
    except httpx.HTTPError as exc:
        raise transport_error(exc, NAME) from exc
    bad = status_error(resp, NAME)
    if bad is not None:
        raise bad
    body = json_body(resp, NAME)
    if isinstance(body, dict) and body.get("error_code") is not None:
        raise error_from(body, resp.status_code)
    return body


def _group_id(handle: str) -> str | None:
    return handle.split("/", 1)[1] if handle.startswith("group/") else None


def resolve(handle: str, config: dict, token: str | None = None, pacing: Pacing = PACING) -> Resolved:
    tok = token or default_token(config)
    pacer = pacing.for_token("ok", tok, RATE)
    info = retrying(lambda: call("url.getInfo", {"url": f"https://ok.ru/{handle}"}, tok, config), pacer)
    kind = str(info.get("type") or "").upper() if isinstance(info, dict) else ""
    gid = str(info.get("objectId") or "") if isinstance(info, dict) else ""
    if kind == "USER" or kind == "PROFILE":
        raise PlatformError(f"«ok.ru/{handle}» — страница человека в Одноклассниках, а нужна группа.",
                            "wrong_network")
    if kind != "GROUP" or not (gid.isascii() and gid.isdigit()):
        raise PlatformError(f"Группы Одноклассников «{handle}» нет: проверьте адрес.", "not_found")
    found = retrying(lambda: call("group.getInfo", {"uids": gid, "fields": "uid,name,shortname,pic_avatar,"
                                                                             "members_count,private,status"},
                                  tok, config), pacer)
    group = found[0] if isinstance(found, list) and found and isinstance(found[0], dict) else None
    if group is None:
        raise PlatformError(f"Группы Одноклассников id {gid} нет: проверьте адрес.", "not_found")
    _check_group(group, handle)
    short = clip(group.get("shortname") or f"group/{gid}", 120)
    avatar = group.get("pic_avatar")
    return Resolved(network="ok", external_id=gid, handle=short, url=f"https://ok.ru/{short}",
                    title=clip(group.get("name") or short, 300), followers=as_count(group.get("members_count")),
                    avatar_url=avatar if isinstance(avatar, str) else None)


def _check_group(group: dict, what: str) -> None:
    if str(group.get("status") or "").upper() in ("BLOCKED", "DELETED"):
        raise PlatformError(f"Группа Одноклассников «{what}» удалена или заблокирована.", "not_found")
    if group.get("private") in (True, "true", 1):
        raise PlatformError(f"Группа Одноклассников «{what}» закрытая: её подписчиков не видно. Откройте группу "
                            "или укажите другую.", "private")


def check_token(external_id: str, token: str, config: dict, pacing: Pacing = PACING) -> str:
    """A harmless call with the group's token: the group's counters."""
    pacer = pacing.for_token("ok", token, RATE)
    retrying(lambda: call("group.getCounters", {"group_id": external_id, "counterTypes": "members"}, token,
                          config), pacer)
    return "Ключ группы Одноклассников действителен: чтение данных группы (подписчики, темы)."


def _one(t: Target, config: dict, pacing: Pacing, client: httpx.Client, avatar: bool) -> Figures:
    tok = t.token or default_token(config)
    pacer = pacing.for_token("ok", tok, RATE)
    if not (str(t.external_id).isascii() and str(t.external_id).isdigit()):
        raise PlatformError("У группы Одноклассников нет числового id: добавьте её заново по адресу.", "not_found")
    body = retrying(lambda: call("group.getCounters", {"group_id": t.external_id, "counterTypes": "members,themes"},
                                 tok, config, client=client), pacer)
    counters = body.get("counters") if isinstance(body, dict) else None
    members = as_count(counters.get("members")) if isinstance(counters, dict) else None
    if members is None:
        raise PlatformError("Одноклассники ответили на group.getCounters без числа участников.", "garbage")
    fig = Figures(followers=members, posts_total=as_count(counters.get("themes")))
    if avatar:
        found = retrying(lambda: call("group.getInfo", {"uids": t.external_id, "fields": "uid,name,pic_avatar"},
                                      tok, config, client=client), pacer)
        if isinstance(found, list) and found and isinstance(found[0], dict):
            pic = found[0].get("pic_avatar")
            fig.avatar_url = pic if isinstance(pic, str) else None
            fig.title = clip(found[0].get("name"), 300) or None
    return fig


def collect_many(targets: list[Target], config: dict, pacing: Pacing = PACING,
                 avatars: set[int] | None = None) -> dict[int, Figures | PlatformError]:
    avatars = avatars or set()
    out: dict[int, Figures | PlatformError] = {}
    if not targets:
        return out
    with httpx.Client() as client, ThreadPoolExecutor(CONCURRENCY) as pool:
        futures = {t.account_id: pool.submit(_one, t, config, pacing, client, t.account_id in avatars)
                   for t in targets}
        for account_id, future in futures.items():
            try:
                out[account_id] = future.result()
            except PlatformError as exc:
                out[account_id] = exc
            except (ValueError, TypeError, AttributeError) as exc:
                out[account_id] = PlatformError(f"Одноклассники ответили неожиданным JSON ({exc.__class__.__name__}).",
                                                "garbage")
    return out
