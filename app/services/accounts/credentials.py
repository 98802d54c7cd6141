"""Per-account credentials: which secret a community's webhook must carry, and which token answers its residents.

The networks' adapters read their credentials from the config they are given (VK_SECRET, VK_ACCESS_TOKEN…).
A participant's VK community or OK group may have its own (Account.token_enc, secret_enc, confirmation_code;
encrypted with services/secretbox): these functions give the adapter the config of that account — the app's
config with the account's credentials laid over it — so the adapters stay as they are and never read the database.

VK (Callback API, one callback server per community):
- a callback of a community registered as an account with its own secret (`group_id` = Account.external_id,
  network "vk") is checked against THAT secret (constant time, by the adapter) and its confirmation request is
  answered with that community's confirmation code;
- the city's own community (VK_GROUP_ID) keeps the global VK_SECRET / VK_CONFIRMATION;
- a registered community without a secret of its own is checked against the global VK_SECRET (a city that
  configured every callback server with its one secret) and confirmed with its own code when it has one;
- any other group_id is refused when VK_GROUP_ID is set (as before), before anything is stored.
A secret no configured key can open (ACCOUNT_SECRETS_KEY changed) refuses the community's callbacks (logged):
the overlay's secret is None, which the adapter never accepts.

Replies go out with the token of the community the resident wrote to, when it has one (VK_ACCESS_TOKEN and
VK_GROUP_ID of that community; OK_ACCESS_TOKEN of that group), otherwise with the global one.
"""
from __future__ import annotations

import logging
from collections import ChainMap
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Account, Reply
from app.services import batchmemo
from app.services.secretbox import SecretUnreadable, decrypt

log = logging.getLogger(__name__)

def _vk_account(group_id: Any):
    """The account row of a VK community (its id, external id and credentials only: a webhook reads it each time),
    or None."""
    try:
        gid = str(abs(int(group_id)))
    except (TypeError, ValueError, OverflowError):
        return None
    account = db.session.execute(
        select(Account.id, Account.external_id, Account.secret_enc, Account.confirmation_code)
        .where(Account.network == "vk", Account.external_id == gid)
        .order_by(Account.secret_enc.is_(None), Account.id).limit(1)).first()
    # the same row intake.accept links the message to (its account_id look-up): read once per webhook
    batchmemo.memo(("account_id", "vk", gid), lambda: account.id if account is not None else None)
    return account


def _open(account, value: str | None, config) -> str | None:
    try:
        return decrypt(value, config)
    except SecretUnreadable:
        log.warning("vk: the stored credentials of account %s cannot be opened (ACCOUNT_SECRETS_KEY changed?)",
                    account.id)
        return None  # no secret: the adapter refuses every callback


def webhook_config(network: str, payload: Any, config) -> Any:
    """The config a webhook request of `network` is checked and parsed with (see the module's doc). Reads the
    account only; stores nothing."""
    if network != "vk" or not isinstance(payload, dict):
        return config
    group = payload.get("group_id")
    if group is None or str(group).strip() == str(config.get("VK_GROUP_ID") or "").strip():
        return config  # the city's own community: the global credentials
    account = _vk_account(group)
    if account is None:
        return config  # not ours: the adapter refuses it when VK_GROUP_ID is set, as it always did
    overlay: dict[str, Any] = {"VK_GROUP_ID": account.external_id}
    if account.secret_enc:
        overlay["VK_SECRET"] = _open(account, account.secret_enc, config)
    # The confirmation code is the community's own; without one a confirmation request is answered 503
    # ("not configured"), never with another community's code.
    overlay["VK_CONFIRMATION"] = account.confirmation_code or None
    return ChainMap(overlay, config)


def _account_of(reply: Reply) -> Account | None:
    message = reply.in_reply_to if reply.in_reply_to_message_id is not None else None
    if message is None or message.account_id is None:
        return None
    return db.session.get(Account, message.account_id)


def send_config(reply: Reply, config) -> Any:
    """The config a reply is delivered with: the token of the community or group the resident wrote to, when it
    has one of its own; else `config`. Raises SecretUnreadable when that token cannot be opened (the reply fails
    with that reason: another community's token would be refused by the platform anyway)."""
    if reply.network not in ("vk", "ok"):
        return config
    account = _account_of(reply)
    if account is None or account.network != reply.network or not account.token_enc:
        return config
    token = decrypt(account.token_enc, config)
    if reply.network == "vk":
        return ChainMap({"VK_ACCESS_TOKEN": token, "VK_GROUP_ID": account.external_id}, config)
    return ChainMap({"OK_ACCESS_TOKEN": token, "OK_REST_ACCESS_TOKEN": token, "OK_GROUP_ID": account.external_id},
                    config)


def ok_group_config(group_id: str | int | None, config) -> Any:
    """The config OK polling of a group's comments uses: its own token when it has one."""
    if group_id is None:
        return config
    account = db.session.scalar(select(Account).where(Account.network == "ok", Account.external_id == str(group_id))
                                .limit(1))
    if account is None or not account.token_enc:
        return config
    token = decrypt(account.token_enc, config)
    return ChainMap({"OK_ACCESS_TOKEN": token, "OK_REST_ACCESS_TOKEN": token}, config)

