"""E-mail over SMTP (the head's weekly digest and exports). Configured by MAIL_* (config.py);
MAIL_SERVER empty means e-mail is off: `send_mail` raises MailNotConfigured, callers decide what to do."""
from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid

from flask import current_app

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message was not sent; `reason` says why (in Russian, for the log and the admin)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class MailNotConfigured(MailError):
    def __init__(self, reason: str = "Почта не настроена: задайте MAIL_SERVER (и MAIL_FROM) в окружении"):
        super().__init__(reason)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def is_configured() -> bool:
    cfg = current_app.config
    return bool(cfg.get("MAIL_SERVER")) and bool(cfg.get("MAIL_FROM") or cfg.get("MAIL_USERNAME"))


def _recipients(to: Sequence[str]) -> list[str]:
    if isinstance(to, str):
        to = [to]
    out = []
    for _name, addr in getaddresses([a for a in to if a and a.strip()]):
        if "@" not in addr or any(ch in addr for ch in "\r\n"):
            raise MailError(f"Неверный адрес получателя: {addr or '(пусто)'}")
        out.append(addr)
    if not out:
        raise MailError("Нет ни одного адреса получателя")
    return out


def build_message(to: Sequence[str], subject: str, text: str, html: str | None = None,
                  attachments: Sequence[tuple[str, bytes, str]] = (), sender: str | None = None) -> EmailMessage:
    """The MIME message (UTF-8 subject, names and attachment file names are encoded by the email package)."""
    msg = EmailMessage()
    sender = sender or current_app.config.get("MAIL_FROM") or current_app.config.get("MAIL_USERNAME") or ""
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = " ".join(subject.split())  # no header injection through newlines
    msg["Date"] = formatdate(localtime=False)
    domain = Address(addr_spec=getaddresses([sender])[0][1] or "localhost@localhost").domain or "localhost"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, data, mime in attachments:
        maintype, _, subtype = (mime or "application/octet-stream").partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=filename)
    return msg


def send_mail(to: Sequence[str], subject: str, text: str, html: str | None = None,
              attachments: Sequence[tuple[str, bytes, str]] = ()) -> list[str]:
    """Send one message to `to`. Returns the addresses the server refused (the others got it);
    raises MailNotConfigured when e-mail is off and MailError (with the reason) when nothing was sent."""
    cfg = current_app.config
    if not is_configured():
        raise MailNotConfigured()
    rcpt = _recipients(to)
    try:
        msg = build_message(rcpt, subject, text, html, attachments)
    except (ValueError, TypeError) as exc:
        raise MailError(f"Письмо не собрано: {exc}") from exc
    host, port, timeout = cfg["MAIL_SERVER"], int(cfg.get("MAIL_PORT") or 25), float(cfg.get("MAIL_TIMEOUT") or 20)
    try:
        if cfg.get("MAIL_USE_SSL"):
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if cfg.get("MAIL_USE_TLS") and not cfg.get("MAIL_USE_SSL"):
                smtp.starttls(context=ssl.create_default_context())
            if cfg.get("MAIL_USERNAME"):
                smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
            refused = smtp.send_message(msg, to_addrs=rcpt)
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(f"Почтовый сервер не принял логин и пароль ({exc.smtp_code})") from exc
    except smtplib.SMTPNotSupportedError as exc:
        raise MailError(f"Почтовый сервер не поддерживает STARTTLS: выключите MAIL_USE_TLS или смените порт "
                        f"({exc})") from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError("Почтовый сервер отклонил всех получателей: " + ", ".join(exc.recipients)) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise MailError(f"Почтовый сервер отклонил отправителя {exc.sender}: {exc.smtp_code} "
                        f"{_text(exc.smtp_error)}") from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"Почтовый сервер ответил ошибкой {exc.smtp_code}: {_text(exc.smtp_error)}") from exc
    except (socket.timeout, TimeoutError) as exc:
        raise MailError(f"Почтовый сервер {host}:{port} не ответил за {timeout:g} с") from exc
    except ssl.SSLError as exc:
        raise MailError(f"Ошибка TLS с почтовым сервером {host}:{port}: {exc}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"Не удалось отправить письмо через {host}:{port}: {exc}") from exc
    if refused:
        log.warning("mail %r: refused recipients %s", subject, refused)
    return sorted(refused)
