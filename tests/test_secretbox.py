"""Participants' account tokens at rest: encrypted, rotatable, a wrong key says so instead of returning junk."""
import pytest
from cryptography.fernet import Fernet

from app.services import secretbox


def test_a_token_is_stored_encrypted_and_read_back():
    config = {"ACCOUNT_SECRETS_KEY": Fernet.generate_key().decode()}
    token = "vk1.a.секрет-сообщества-123"
    stored = secretbox.encrypt(token, config)
    assert token not in stored and "vk1.a" not in stored
    assert secretbox.decrypt(stored, config) == token
    assert secretbox.encrypt(token, config) != stored  # a fresh IV each time: equal tokens do not look equal


def test_keys_rotate_the_old_key_still_reads():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = secretbox.encrypt("ok-token", {"ACCOUNT_SECRETS_KEY": old})
    assert secretbox.decrypt(stored, {"ACCOUNT_SECRETS_KEY": f"{new},{old}"}) == "ok-token"
    with pytest.raises(secretbox.SecretUnreadable, match="ACCOUNT_SECRETS_KEY"):
        secretbox.decrypt(stored, {"ACCOUNT_SECRETS_KEY": new})


def test_without_a_key_of_its_own_the_key_comes_from_secret_key():
    a, b = {"SECRET_KEY": "a" * 40}, {"SECRET_KEY": "b" * 40}
    stored = secretbox.encrypt("t", a)
    assert secretbox.decrypt(stored, a) == "t"
    with pytest.raises(secretbox.SecretUnreadable):
        secretbox.decrypt(stored, b)
    assert secretbox.decrypt(None, a) is None and secretbox.decrypt("", a) is None
    assert not secretbox.valid_keys("not-a-key") and not secretbox.valid_keys("")
    assert secretbox.valid_keys(Fernet.generate_key().decode())
