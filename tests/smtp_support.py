"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the e-mail tests, and the app configured to use it.

    def test_something(smtp_server):
        send_mail(["head@city.ru"], "Тема", "Текст")
        msg = smtp_server.messages[0]            # email.message.EmailMessage (policy.default: decoded headers)
        msg["Subject"], smtp_server.envelopes[0].rcpt_tos, list(msg.iter_attachments())
"""
from __future__ import annotations

import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller


class Inbox:
    """The aiosmtpd handler: keeps every accepted message, parsed, and its envelope."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self.host = "127.0.0.1"
        self.port = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(msg)
            self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.envelopes.clear()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(app):
    """A running local SMTP server (no TLS, no login); app.config MAIL_* point at it for the test."""
    inbox = Inbox()
    inbox.port = _free_port()
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME", "MAIL_PASSWORD",
            "MAIL_FROM", "MAIL_TIMEOUT")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(MAIL_SERVER=inbox.host, MAIL_PORT=inbox.port, MAIL_USE_TLS=False, MAIL_USE_SSL=False,
                      MAIL_USERNAME=None, MAIL_PASSWORD=None,
                      MAIL_FROM="Открытый муниципалитет <noreply@belogorsk.test>", MAIL_TIMEOUT=5)
    try:
        yield inbox
    finally:
        app.config.update(saved)
        controller.stop()
