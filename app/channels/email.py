"""E-mail as an outbox network: the head's weekly digest (with the board as XLSX) leaves through the same
outbox as every other outbound message, with the same states, backoff and retries (app/services/replies.py).

Address: {"to": [addresses], "subject": "…"}; attachments come built by the outbox (OutgoingReply.attachments).
SMTP is app/services/mailer.py. Errors: the server refusing the login, the sender or every recipient, and
5xx answers are permanent; 4xx answers, timeouts and connection errors are retried. A repeated send cannot be
deduplicated by the server: after a crash mid-call the message is «не подтверждена», like Telegram's.
"""
from __future__ import annotations

import smtplib
import socket

from app.channels.base import ChannelError, OutgoingReply, SendResult

NETWORK = "email"


class EmailAdapter:
    network = NETWORK

    def is_enabled(self, config: dict) -> bool:
        return bool(config.get("MAIL_SERVER")) and bool(config.get("MAIL_FROM") or config.get("MAIL_USERNAME"))

    def send(self, reply: OutgoingReply, config: dict) -> SendResult:
        from app.services import mailer

        address = reply.address or {}
        to = address.get("to") or []
        if not to:
            raise ChannelError("Почта: нет адреса получателя", permanent=True)
        try:
            refused = mailer.send_mail(to, str(address.get("subject") or ""), reply.text,
                                       attachments=list(reply.attachments))
        except mailer.MailNotConfigured as exc:
            raise ChannelError(exc.reason, permanent=True) from exc
        except mailer.MailError as exc:
            raise ChannelError(exc.reason, permanent=_permanent(exc.__cause__)) from exc
        return SendResult(external_id=",".join(a for a in to if a not in refused))


def _permanent(cause: BaseException | None) -> bool:
    if isinstance(cause, (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused,
                          smtplib.SMTPSenderRefused, smtplib.SMTPNotSupportedError)):
        return True
    if isinstance(cause, smtplib.SMTPResponseException):
        return cause.smtp_code >= 500
    if isinstance(cause, (socket.timeout, TimeoutError, OSError, smtplib.SMTPException)):
        return False
    return True  # the message could not even be built, or a wrong address
