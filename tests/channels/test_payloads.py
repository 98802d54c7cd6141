"""What a resident sends besides text, as staff see it: summaries that name it, the place on the map, files whose
platform links expire kept by the app, and no answer ever posted into a group chat that is not ours.
(The per-network matrix of real payload shapes is test_payload_matrix.py.)"""
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from app.channels import content
from app.channels.base import Attachment, ChannelError, OutgoingReply
from app.channels.telegram import TelegramAdapter
from app.channels.vk import VkAdapter
from app.extensions import db
from app.fakes import vk as vk_payloads
from app.fakes.server import LoopbackServer
from app.models import Message, Ticket
from tests.factories import make_account, make_institution, make_user
from tests.telegram_support import SECRET as TG_SECRET
from tests.vk_support import GROUP, SECRET

ROWS = Path(__file__).parent / "payloads"


def voice(seconds):
    return Attachment(kind="voice", file_id="v", duration=seconds)


@pytest.mark.parametrize("text, items, expected", [
    ("", [voice(12)], "[голосовое сообщение 0:12]"),
    ("", [content.location(50.9188, 128.4801, address="ул. Кирова, 35")], "[геометка: ул. Кирова, 35]"),
    ("", [content.location(50.9188, 128.4801, title="Открытый люк", address="ул. Кирова, 35")],
     "[геометка: Открытый люк, ул. Кирова, 35]"),
    ("", [Attachment(kind="document", file_id="d", name="акт.pdf")], "[документ: акт.pdf]"),
    ("", [Attachment(kind="video", file_id="v", duration=45)], "[видео 0:45]"),
    ("", [Attachment(kind="link", file_id="l", url="https://gorod.example.ru/news/1")],
     "[ссылка: https://gorod.example.ru/news/1]"),
    ("", [content.contact("Ольга Кузнецова", "+79141234567")], "[контакт: Ольга Кузнецова, +79141234567]"),
    ("", [Attachment(kind="audio", file_id="a", duration=3725)], "[аудио 1:02:05]"),
    ("", [Attachment(kind="photo", file_id=str(i)) for i in range(5)], "[фото] [фото] [фото] [ещё 2]"),
    ("Яма на Кирова", [Attachment(kind="photo", file_id="p")], "Яма на Кирова"),
])
def test_summary_names_what_was_sent(text, items, expected):
    assert content.summary(text, items) == expected
    assert content.summary(text, [a.as_dict() for a in items]) == expected  # as stored on the message


def test_a_sticker_alone_is_not_content_but_a_place_or_a_photo_is():
    assert not content.is_content([Attachment(kind="sticker", file_id="s")])
    assert content.is_content([{"kind": "location", "latitude": 1.0, "longitude": 2.0}])
    assert content.is_content([{"kind": "sticker"}, {"kind": "photo"}])
    assert content.location(91, 10) is None and content.location("x", 1) is None  # not a point: no place


def test_venue_is_the_tickets_place_on_the_page_with_a_map_link(client, login, bot_account, fake_tg):
    row = json.loads((ROWS / "telegram" / "venue.json").read_text(encoding="utf-8"))
    resp = client.post("/hooks/telegram", json=row["update"], headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert resp.status_code == 200
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.summary == "[геометка: Открытый люк, ул. Кирова, 35]"
    assert ticket.place_text == "Открытый люк, ул. Кирова, 35"
    page = login(make_user("moderator")).get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "Открытый люк, ул. Кирова, 35" in page and "yandex.ru/maps/?pt=128.480102,50.918811" in page
    assert "геометка: Открытый люк, ул. Кирова, 35" in page  # the message's own line in the timeline
    message = ticket.messages[0]
    pin = client.get(f"/tickets/{ticket.number}/files/{message.id}/0")
    assert pin.status_code == 302 and pin.headers["Location"] == ticket.map_url


def test_a_telegram_file_over_20_mb_says_so_instead_of_a_broken_link(client, login, bot_account, fake_tg):
    row = json.loads((ROWS / "telegram" / "video_large.json").read_text(encoding="utf-8"))
    client.post("/hooks/telegram", json=row["update"], headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    ticket = db.session.scalar(db.select(Ticket))
    page = login(make_user("moderator")).get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "видео: подтопление.mp4 5:12 (больше 20 МБ" in page
    assert f"/tickets/{ticket.number}/files/" not in page  # no link that could only fail
    assert not any(c["method"] == "getFile" for c in fake_tg.calls)


def test_an_own_contact_with_an_overlong_phone_is_kept_and_the_residents_phone_fits(client, bot_account, fake_tg):
    row = json.loads((ROWS / "telegram" / "contact.json").read_text(encoding="utf-8"))
    row["update"]["message"]["contact"]["phone_number"] = "+7914" + "1" * 80
    resp = client.post("/hooks/telegram", json=row["update"], headers={"X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert resp.status_code == 200
    message = db.session.scalar(db.select(Message))
    assert message.attachments[0]["phone"] == "+7914" + "1" * 80  # the card as sent
    assert message.resident.phone == ("+7914" + "1" * 80)[:40]


def test_nothing_is_posted_into_a_group_chat_that_is_not_a_comment_thread_of_ours(tg_config, fake_tg):
    with pytest.raises(ChannelError) as vk_refused:
        VkAdapter().send(OutgoingReply("vk", "Обращение принято", {"type": "message", "peer_id": 2_000_000_003},
                                       "r-1"), {"VK_ACCESS_TOKEN": "t"})
    assert vk_refused.value.permanent
    with pytest.raises(ChannelError) as tg_refused:
        TelegramAdapter().send(OutgoingReply("telegram", "Обращение принято",
                                             {"chat_id": -1001876543210, "message_id": 905}, "r-2"), tg_config)
    assert tg_refused.value.permanent and fake_tg.sent == []


# --- files whose platform links expire --------------------------------------------------------------------
class FileHost(LoopbackServer):
    """A platform's file CDN on loopback: GET <path> → the registered bytes (or a redirect)."""

    name = "fake-files"

    def __init__(self):
        self.files: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}
        self.hits: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                host.hits.append(self.path)
                if self.path in host.redirects:
                    self.send_response(302)
                    self.send_header("Location", host.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, mime = host.files.get(self.path, (b"", ""))
                self.send_response(200 if mime else 404)
                self.send_header("Content-Type", mime or "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._serve("127.0.0.1", 0, Handler)


@pytest.fixture
def file_host(app, vk_config, tmp_path):
    keys = ("ATTACHMENT_STORE", "ATTACHMENT_FETCH_PREFIXES", "ATTACHMENT_STORE_MAX_BYTES", "UPLOAD_DIR")
    saved = {k: app.config.get(k) for k in keys}
    with FileHost() as host:
        app.config.update(ATTACHMENT_STORE=True, ATTACHMENT_FETCH_PREFIXES=[host.base_url + "/cdn/"],
                          ATTACHMENT_STORE_MAX_BYTES=1000, UPLOAD_DIR=str(tmp_path))
        acc = make_account(make_institution(name="Администрация г. Белогорск"), network="vk")
        acc.external_id = str(GROUP)
        db.session.flush()
        yield host
    app.config.update(saved)


def vk_message(cmid, attachments):
    return vk_payloads.message_new(GROUP, 512345678, "", conversation_message_id=cmid, secret=SECRET,
                                   attachments=attachments)


def test_vk_voice_is_kept_by_the_app_and_opens_after_the_link_expires(client, login, file_host):
    ogg = b"OggS\x00voice-of-the-resident"
    file_host.files["/cdn/amsg/voice.ogg"] = (ogg, "audio/ogg")
    url = f"{file_host.base_url}/cdn/amsg/voice.ogg"
    voice_item = {"type": "audio_message", "audio_message": {"duration": 12, "id": 1, "owner_id": 512345678,
                                                             "link_ogg": url, "link_mp3": url, "access_key": "k"}}
    assert client.post("/hooks/vk", json=vk_message(1, [voice_item])).status_code == 200
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.summary == "[голосовое сообщение 0:12]"
    [item] = ticket.messages[0].attachments
    assert item["stored"].startswith("messages/vk/") and item["url"] == url

    del file_host.files["/cdn/amsg/voice.ogg"]  # VK's signed link has expired
    login(make_user("moderator"))
    resp = client.get(f"/tickets/{ticket.number}/files/{ticket.messages[0].id}/0")
    assert resp.status_code == 200 and resp.data == ogg and resp.mimetype == "audio/ogg"


def test_a_file_over_the_limit_keeps_its_link_and_says_so_and_foreign_hosts_are_never_fetched(client, file_host):
    file_host.files["/cdn/doc/big.pdf"] = (b"%PDF" + b"0" * 5000, "application/pdf")
    big = {"type": "doc", "doc": {"id": 2, "owner_id": 1, "title": "акт.pdf", "size": 5004,
                                  "url": f"{file_host.base_url}/cdn/doc/big.pdf"}}
    elsewhere = {"type": "doc", "doc": {"id": 3, "owner_id": 1, "title": "x.pdf",
                                        "url": f"{file_host.base_url}/internal/secret"}}
    client.post("/hooks/vk", json=vk_message(2, [big, elsewhere]))
    message = db.session.scalar(db.select(Message))
    big_item, other = message.attachments
    assert "stored" not in big_item and "больше" in big_item["note"] and big_item["url"].endswith("big.pdf")
    assert "stored" not in other and "note" not in other
    assert "/internal/secret" not in file_host.hits  # not the platform's file host: never requested


def test_a_redirect_off_the_platforms_hosts_is_not_followed(client, file_host):
    file_host.redirects["/cdn/photo/1.jpg"] = "http://169.254.169.254/latest/meta-data/"
    photo = {"type": "photo", "photo": {"id": 9, "owner_id": 1, "sizes": [
        {"type": "z", "width": 10, "height": 10, "url": f"{file_host.base_url}/cdn/photo/1.jpg"}]}}
    assert client.post("/hooks/vk", json=vk_message(3, [photo])).status_code == 200
    message = db.session.scalar(db.select(Message))
    assert "stored" not in message.attachments[0] and message.attachments[0]["url"].endswith("/cdn/photo/1.jpg")
