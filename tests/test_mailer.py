"""E-mail over SMTP against a real local server (aiosmtpd, tests/smtp_support.py)."""
import socket

import pytest

from app.services import exports, mailer


def test_utf8_subject_html_and_attachment_are_delivered(smtp_server):
    data = b"PK\x03\x04 not really a workbook"
    refused = mailer.send_mail(["Глава города <head@belogorsk.test>", "analyst@belogorsk.test"],
                               "Еженедельная сводка: 12 проблемных вопросов", "Текст письма — по-русски.",
                               html="<p>Сводка <b>за неделю</b></p>",
                               attachments=[("Сводка за неделю.xlsx", data, exports.XLSX_MIME)])
    assert refused == []
    assert len(smtp_server.messages) == 1
    msg = smtp_server.messages[0]
    assert msg["Subject"] == "Еженедельная сводка: 12 проблемных вопросов"
    assert "Открытый муниципалитет" in msg["From"] and "noreply@belogorsk.test" in msg["From"]
    assert sorted(smtp_server.envelopes[0].rcpt_tos) == ["analyst@belogorsk.test", "head@belogorsk.test"]
    assert msg.get_body(("plain",)).get_content().strip() == "Текст письма — по-русски."
    assert "за неделю" in msg.get_body(("html",)).get_content()
    (att,) = list(msg.iter_attachments())
    assert att.get_filename() == "Сводка за неделю.xlsx"
    assert att.get_content_type() == exports.XLSX_MIME
    assert att.get_content() == data


def test_not_configured(app):
    app.config["MAIL_SERVER"] = None
    with pytest.raises(mailer.MailNotConfigured) as err:
        mailer.send_mail(["head@belogorsk.test"], "Тема", "Текст")
    assert "MAIL_SERVER" in err.value.reason
    assert isinstance(err.value, mailer.MailError)


def test_no_recipients_and_bad_address(smtp_server):
    with pytest.raises(mailer.MailError, match="получател"):
        mailer.send_mail([], "Тема", "Текст")
    with pytest.raises(mailer.MailError, match="Неверный адрес"):
        mailer.send_mail(["not-an-address"], "Тема", "Текст")
    assert smtp_server.messages == []


def test_newlines_in_the_subject_do_not_inject_headers(smtp_server):
    mailer.send_mail(["head@belogorsk.test"], "Сводка\r\nBcc: evil@example.org", "Текст")
    msg = smtp_server.messages[0]
    assert msg["Bcc"] is None and smtp_server.envelopes[0].rcpt_tos == ["head@belogorsk.test"]


def test_server_down_is_one_mail_error(app, smtp_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once closed
    app.config["MAIL_PORT"] = port
    with pytest.raises(mailer.MailError) as err:
        mailer.send_mail(["head@belogorsk.test"], "Тема", "Текст")
    assert f"127.0.0.1:{port}" in err.value.reason


def test_starttls_refused_by_a_plain_server_is_explained(app, smtp_server):
    app.config["MAIL_USE_TLS"] = True
    with pytest.raises(mailer.MailError, match="STARTTLS"):
        mailer.send_mail(["head@belogorsk.test"], "Тема", "Текст")
