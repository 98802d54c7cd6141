"""Secrets at rest: the participants' account tokens, Callback secrets (Fernet, AES-128-CBC + HMAC-SHA256).

Keys come from ACCOUNT_SECRETS_KEY: comma-separated Fernet keys, the first encrypts, every one decrypts (add a new
key in front, re-save the tokens, then drop the old one). Unset: one key derived from SECRET_KEY with HKDF, so a
first run works; `flask check-config` asks for a key of its own in production. A value is never shown again
after entry: pages say only whether it is set.
"""
from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class SecretUnreadable(Exception):
    """A stored secret that no configured key opens (the key was changed without re-saving the tokens)."""


def _derived(secret_key: str) -> bytes:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"om-account-secrets",
               info=b"fernet").derive(secret_key.encode())
    return base64.urlsafe_b64encode(raw)


def _box(config=None) -> MultiFernet:
    config = config if config is not None else current_app.config
    keys = [k.strip() for k in str(config.get("ACCOUNT_SECRETS_KEY") or "").split(",") if k.strip()]
    if not keys:
        keys = [_derived(str(config.get("SECRET_KEY") or ""))]
    return MultiFernet([Fernet(k) for k in keys])


def valid_keys(value: str | None) -> bool:
    """Whether ACCOUNT_SECRETS_KEY holds only well-formed Fernet keys (check-config)."""
    try:
        return bool([Fernet(k.strip()) for k in str(value or "").split(",") if k.strip()])
    except (ValueError, TypeError):
        return False


def encrypt(value: str, config=None) -> str:
    return _box(config).encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str | None, config=None) -> str | None:
    if not token:
        return None
    try:
        return _box(config).decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable("сохранённый токен не открывается текущим ключом ACCOUNT_SECRETS_KEY: "
                               "введите токен заново") from exc
