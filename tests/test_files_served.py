"""Residents' files on the staff site (issue 9, item 5): the type recorded at intake checked by the bytes, inline
only for raster images and audio/video, everything else an attachment under its original name; nosniff."""
from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.extensions import db
from app.fakes import telegram as updates
from app.models import Ticket
from app.services import files
from tests.factories import make_user
from tests.helpers import hook

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + b" " * 64
OGG = b"OggS\x00\x02" + b"\x00" * 64
HTML = b"<!doctype html><html><body><script>fetch('/admin')</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script>'
       b"</svg>")


def deliver(client, fake_tg, login, *, media: dict, content: bytes, upstream_type: str, file_id: str, n: int = 1):
    fake_tg.add_file(file_id, content, f"documents/{file_id}", content_type=upstream_type)
    assert hook(client, updates.private_message(48151600 + n, "Смотрите вложение", message_id=n, **media)
                ).status_code == 200
    ticket = db.session.scalar(db.select(Ticket).order_by(Ticket.id.desc()))
    staff = login(make_user("moderator"))
    return staff, f"/tickets/{quote(ticket.number)}/files/{ticket.messages[0].id}/0", ticket


def disposition_name(header: str) -> str:
    """The name a browser saves the file under (RFC 6266: filename* wins)."""
    for part in header.split(";"):
        part = part.strip()
        if part.startswith("filename*=UTF-8''"):
            return unquote(part[len("filename*=UTF-8''"):])
    for part in header.split(";"):
        part = part.strip()
        if part.startswith("filename="):
            return part[len("filename="):].strip('"')
    return ""


@pytest.mark.parametrize("name, content, declared", [
    ("page.html", HTML, "text/html"),
    ("рисунок.svg", SVG, "image/svg+xml"),
    ("фото.jpg", HTML, "image/jpeg"),  # claims to be a photo, is a page
])
def test_a_telegram_document_that_is_html_or_svg_downloads_and_never_runs(client, fake_tg, bot_account, login,
                                                                          name, content, declared):
    staff, link, _ticket = deliver(client, fake_tg, login, file_id="BQAC-evil",
                                   media={"document": updates.document("BQAC-evil", name, declared, len(content))},
                                   content=content, upstream_type=declared)
    resp = staff.get(link)
    assert resp.status_code == 200 and resp.data == content
    assert resp.headers["Content-Type"] == "application/octet-stream"  # not text/html, not image/svg+xml
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert disposition_name(resp.headers["Content-Disposition"]) == name
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in resp.headers["Content-Security-Policy"]


def test_a_photo_is_shown_inline_as_a_jpeg_under_a_real_name_not_0(client, fake_tg, bot_account, login):
    staff, link, ticket = deliver(client, fake_tg, login, file_id="AgAC-photo",
                                  media={"photo": updates.photo_sizes("AgAC-photo")},
                                  content=JPEG, upstream_type="text/html")  # upstream lies: not passed on
    resp = staff.get(link)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Content-Disposition"].startswith("inline;")
    name = disposition_name(resp.headers["Content-Disposition"])
    assert name == f"{ticket.number}-{ticket.messages[0].id}-1-фото.jpg" and name != "0"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_a_pdf_downloads_with_its_cyrillic_name_intact(client, fake_tg, bot_account, login):
    staff, link, _ticket = deliver(client, fake_tg, login, file_id="BQAC-act",
                                   media={"document": updates.document("BQAC-act", "акт проверки.pdf")},
                                   content=PDF, upstream_type="application/octet-stream")
    resp = staff.get(link)
    header = resp.headers["Content-Disposition"]
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    assert header.startswith("attachment;")
    assert "filename*=UTF-8''%D0%B0%D0%BA%D1%82%20%D0%BF%D1%80%D0%BE%D0%B2%D0%B5%D1%80%D0%BA%D0%B8.pdf" in header
    assert disposition_name(header) == "акт проверки.pdf"
    assert 'filename="' in header and header.isascii()  # an ASCII fallback for old clients


def test_a_voice_message_plays_inline(client, fake_tg, bot_account, login):
    staff, link, _ticket = deliver(client, fake_tg, login, file_id="AwAC-voice",
                                   media={"voice": updates.voice("AwAC-voice")}, content=OGG,
                                   upstream_type="application/octet-stream")
    resp = staff.get(link)
    assert resp.headers["Content-Type"] == "audio/ogg" and resp.headers["Content-Disposition"].startswith("inline;")


@pytest.mark.parametrize("content, recorded, expected", [
    (JPEG, "image/jpeg", ("image/jpeg", True)),
    (PNG, "image/jpeg", ("image/png", True)),
    (PNG, None, ("image/png", True)),
    (JPEG, "application/pdf", ("application/octet-stream", False)),
    (HTML, "text/html", ("application/octet-stream", False)),
    (SVG, "image/svg+xml", ("application/octet-stream", False)),
    (PDF, "application/pdf", ("application/pdf", False)),
    (b"GIF89a" + b"\x00" * 10, "image/gif", ("image/gif", True)),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", ("image/webp", True)),
    (b"\x00\x00\x00\x18ftypmp42", "video/mp4", ("video/mp4", True)),
    (b"", "image/jpeg", ("application/octet-stream", False)),
])
def test_the_served_type_is_decided_by_the_bytes_and_the_recorded_type(content, recorded, expected):
    assert files.decide(content, recorded) == expected


@pytest.mark.parametrize("raw, clean", [
    ("../../etc/passwd", "passwd"), ("a\r\nSet-Cookie: x", "a_Set-Cookie_ x"), ('"quoted".pdf', "quoted_.pdf"),
    ("акт проверки.pdf", "акт проверки.pdf"), ("", ""),
])
def test_file_names_are_cleaned_for_headers(raw, clean):
    assert files.clean_name(raw) == clean
    header = files.content_disposition("attachment", files.clean_name(raw) or "file")
    assert "\r" not in header and "\n" not in header and header.isascii()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_name_gives_a_safe_header_that_keeps_the_name(raw):
    """Whatever a platform sends as a file name: one ASCII header line, no path, and filename* decodes to the name."""
    name = files.clean_name(raw) or "file"
    header = files.content_disposition("attachment", name)
    assert header.isascii() and not any(ch in header for ch in "\r\n\x00")
    assert "/" not in name and "\\" not in name and len(name) <= 150
    assert disposition_name(header) == name
