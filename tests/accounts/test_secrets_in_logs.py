"""Account tokens and the bot's token never in a log line at INFO or above (issue 12, security): httpx logs
every request's URL at INFO, and the Bot API's URL carries the bot token; the VK/OK tokens go in the body."""
from __future__ import annotations

import logging

from app.extensions import db
from app.services.accounts import collection
from app.services.secretbox import encrypt
from tests.accounts.conftest import MAX_TOKEN, OK_TOKEN, TG_TOKEN, VK_TOKEN
from tests.accounts.test_collection import EXT, NOW, account, uploads  # noqa: F401

OWN_VK = "vk1.a.own-community-token-SECRET"


def test_no_token_in_any_log_line_at_info(app, nets, pace, caplog):
    accs = {net: account(nets, net, ext) for net, ext in EXT.items()}
    nets.vk.add_token(OWN_VK)
    accs["vk"].token_enc = encrypt(OWN_VK, app.config)
    nets.ok.trouble(EXT["ok"], "5xx")
    db.session.commit()
    with caplog.at_level(logging.DEBUG):
        collection.collect_all(now=NOW, pacing=pace)
        app.test_cli_runner().invoke(args=["accounts", "collect"])
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    text = "\n".join(lines) + "\n".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    for secret in (TG_TOKEN, VK_TOKEN, OK_TOKEN, MAX_TOKEN, OWN_VK, TG_TOKEN.split(":")[1]):
        assert secret not in text, [line for line in lines if secret in line][:3]
