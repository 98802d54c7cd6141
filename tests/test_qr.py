"""A participant's QR codes and poster, as a resident scans them: every generated image is decoded (the PNG by
zxing-cpp, the SVG drawn module by module from its path and decoded too) and must hold exactly the account's
address or the participant's deep link; printed with a 4-module quiet zone at 300 dpi, about 3.5 cm."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from flask import render_template
from PIL import Image

from app.extensions import db
from app.services import qr
from tests.factories import make_account, make_institution
from tests.helpers import body

BOT = "om_belogorsk_bot"
VK_GROUP = "218000777"
MAX_BOT = "om_belogorsk_max_bot"
BASE = "https://om.belogorsk.example"
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def bots(app):
    """The three feedback bots configured (names and tokens), and the site's public address."""
    values = dict(TELEGRAM_BOT_TOKEN="7012345678:AAH4-test", TELEGRAM_BOT_USERNAME=BOT, VK_GROUP_ID=VK_GROUP,
                  VK_ACCESS_TOKEN="vk1.a.token", MAX_BOT_TOKEN="max-token", MAX_BOT_NAME=MAX_BOT,
                  PUBLIC_BASE_URL=BASE)
    saved = {k: app.config.get(k) for k in values}
    app.config.update(values)
    yield app.config
    app.config.update(saved)


@pytest.fixture
def no_bots(app):
    keys = ("TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_USERNAME", "VK_GROUP_ID", "VK_ACCESS_TOKEN", "MAX_BOT_TOKEN",
            "MAX_BOT_NAME", "PUBLIC_BASE_URL")
    saved = {k: app.config.get(k) for k in keys}
    app.config.update({k: None for k in keys})
    yield app.config
    app.config.update(saved)


@pytest.fixture
def school():
    inst = make_institution(name="МАОУ «Школа № 3 г. Белогорск»")
    inst.short_name = "Школа № 3"
    inst.address = "ул. Ленина, 12"
    tg = make_account(inst, network="telegram")
    tg.url, tg.title = "https://t.me/school3_blg", "Школа № 3 — новости"
    vk = make_account(inst, network="vk")
    vk.url, vk.title = "https://vk.com/school3_blg", "Школа № 3"
    other = make_account(inst, network="other")
    other.url, other.label, other.title = "https://dzen.ru/school3", "Дзен", "Школа № 3"
    gone = make_account(inst, network="ok")
    gone.url, gone.is_active = "https://ok.ru/group/1", False
    bad = make_account(inst, network="other")
    bad.url = "javascript:alert(1)"
    db.session.commit()
    inst.accounts_expected = {f"account-{a.id}": a.url for a in (tg, vk, other)}
    inst.hidden_accounts = [gone.id, bad.id]
    return inst


def expected(inst) -> dict[str, str]:
    code = inst.feedback_code
    return {"bot-telegram": f"https://t.me/{BOT}?start={code}",
            "bot-vk": f"https://vk.me/club{VK_GROUP}?ref={code}",
            "bot-max": f"https://max.ru/{MAX_BOT}?start={code}",
            "form": f"{BASE}/appeal?p={code}",
            **inst.accounts_expected}


def decode_png(data: bytes) -> tuple[str, Image.Image]:
    image = Image.open(io.BytesIO(data))
    found = zxingcpp.read_barcodes(image)
    assert len(found) == 1, "exactly one QR code in the image"
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text, image


def draw_svg(data: bytes, pixels: int = 8) -> Image.Image:
    """The SVG as segno writes it (a background rectangle and one path of 1-unit horizontal strokes at y+0.5),
    drawn module by module into a bitmap — so the SVG itself is decoded, not only the PNG."""
    root = ET.fromstring(data)
    size = int(root.get("viewBox").split()[2])
    image = Image.new("1", (size * pixels, size * pixels), 1)
    dark = [p for p in root.iter(f"{SVG_NS}path") if p.get("stroke") == "#000"]
    assert len(dark) == 1
    x = y = 0.0
    for op, args in re.findall(r"([MmHh])([-\d.\s]+)", dark[0].get("d")):
        nums = [float(n) for n in args.split()]
        if op == "M":
            x, y = nums
        elif op == "m":
            x, y = x + nums[0], y + nums[1]
        else:  # h: a run of dark modules on row y-0.5
            run = nums[0]
            row = int(y - 0.5)
            for col in range(int(x), int(x + run)):
                image.paste(0, (col * pixels, row * pixels, (col + 1) * pixels, (row + 1) * pixels))
            x += run
    return image


def test_every_code_decodes_to_the_account_address_or_the_deep_link(client, bots, school):
    want = expected(school)
    offered = [c.what for c in qr.codes(school, qr.active_accounts(school))]
    assert sorted(offered) == sorted(want)  # no inactive account, no `javascript:` link
    for what, text in want.items():
        png = client.get(f"/participants/{school.slug}/qr/{what}.png")
        assert png.status_code == 200 and png.mimetype == "image/png"
        decoded, image = decode_png(png.data)
        assert decoded == text, what

        svg = client.get(f"/participants/{school.slug}/qr/{what}.svg")
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
        root = ET.fromstring(svg.data)  # well-formed XML
        assert root.tag == f"{SVG_NS}svg" and root.find(f"{SVG_NS}title").text
        assert zxingcpp.read_barcodes(draw_svg(svg.data))[0].text == text, what
        # the same symbol in both: as many modules, and the same physical size
        modules = int(root.get("viewBox").split()[2])
        scale = image.size[0] // modules
        assert image.size == (modules * scale, modules * scale)
        assert root.get("width") == f"{image.size[0] / 300 * 25.4:.2f}mm" == root.get("height")


def test_png_is_300_dpi_about_35_mm_with_a_quiet_zone_of_four_modules(client, bots, school):
    png = client.get(f"/participants/{school.slug}/qr/bot-telegram.png")
    image = Image.open(io.BytesIO(png.data))
    assert [round(v) for v in image.info["dpi"]] == [300, 300]
    side_mm = image.size[0] / 300 * 25.4
    assert 30 <= side_mm <= 40
    symbol = qr.symbol(expected(school)["bot-telegram"])
    modules = symbol.symbol_size(border=qr.BORDER)[0]
    scale = image.size[0] // modules
    assert scale >= qr.MIN_SCALE
    assert symbol.error in ("Q", "H")  # print: a quarter of the symbol may be lost
    gray = image.convert("L")
    left, top, right, bottom = gray.point(lambda v: 255 if v < 128 else 0).getbbox()  # the dark modules
    quiet = 4 * scale
    assert (left, top) == (quiet, quiet)
    assert (image.size[0] - right, image.size[1] - bottom) == (quiet, quiet)
    assert gray.getpixel((0, 0)) == 255  # white, not transparent: prints the same on any paper


def test_headers_type_name_cache_and_a_closed_csp_for_svg(client, bots, school):
    svg = client.get(f"/participants/{school.slug}/qr/bot-telegram.svg")
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    assert "default-src 'none'" in svg.headers["Content-Security-Policy"]
    assert "sandbox" in svg.headers["Content-Security-Policy"]
    assert svg.headers["X-Content-Type-Options"] == "nosniff"
    disposition = svg.headers["Content-Disposition"]
    assert disposition.startswith("inline;") and "filename*=UTF-8''" in disposition
    assert "%D0%A8%D0%BA%D0%BE%D0%BB%D0%B0" in disposition  # «Школа», RFC 5987
    assert svg.headers["Cache-Control"].startswith("public")
    again = client.get(f"/participants/{school.slug}/qr/bot-telegram.svg",
                       headers={"If-None-Match": svg.headers["ETag"]})
    assert again.status_code == 304
    png = client.get(f"/participants/{school.slug}/qr/form.png?dl=1")
    assert png.headers["Content-Type"] == "image/png"
    assert png.headers["Content-Disposition"].startswith("attachment;")
    assert 'filename="QR' in png.headers["Content-Disposition"] and ".png" in png.headers["Content-Disposition"]


def test_unknown_inactive_or_foreign_codes_are_404(client, bots, school):
    other = make_institution(name="МУП «Водоканал»")
    foreign = make_account(other, network="vk")
    db.session.commit()
    base = f"/participants/{school.slug}/qr"
    for url in ("/participants/no-such-school/qr/form.png", f"{base}/account-{foreign.id}.png",
                *(f"{base}/account-{i}.svg" for i in school.hidden_accounts), f"{base}/account-99999999999.png",
                f"{base}/bot-ok.png", f"{base}/bot-.png", f"{base}/form.gif", f"{base}/form", f"{base}/FORM.png",
                f"{base}/account-1x.png", f"{base}/form.png.png",
                f"/participants/{'x' * 300}/qr/form.svg", f"/participants/{'x' * 300}/poster"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"{base}/%00.png").status_code in (400, 404)  # never a 500
    assert client.get(f"{base}/form.png?dl=junk&x=%ff&p=1'").status_code == 200  # junk parameters: ignored
    school.is_active = False
    db.session.commit()
    assert client.get(f"{base}/form.png").status_code == 404
    assert client.get(f"/participants/{school.slug}/poster").status_code == 404


def test_bots_not_configured_are_not_offered(client, no_bots, school):
    codes = [c.what for c in qr.codes(school, qr.active_accounts(school))]
    assert codes[0] == "form" and sorted(codes[1:]) == sorted(school.accounts_expected)
    assert client.get(f"/participants/{school.slug}/qr/bot-telegram.png").status_code == 404
    assert client.get(f"/participants/{school.slug}/qr/bot-max.svg").status_code == 404
    # without PUBLIC_BASE_URL the form's code carries the host the page was asked on
    decoded, _ = decode_png(client.get(f"/participants/{school.slug}/qr/form.png").data)
    assert decoded == f"http://localhost/appeal?p={school.feedback_code}"


def test_a_participant_that_only_publishes_offers_no_write_to_us_codes(client, bots, school):
    school.receives_appeals = False
    db.session.commit()
    assert sorted(c.what for c in qr.codes(school, qr.active_accounts(school))) == sorted(school.accounts_expected)
    assert client.get(f"/participants/{school.slug}/qr/bot-telegram.png").status_code == 404
    page = body(client.get(f"/participants/{school.slug}/poster"))
    assert "Мы в социальных сетях" in page and "Пишите нам" not in page


def test_poster_lists_every_code_with_its_address_in_text(client, bots, school):
    resp = client.get(f"/participants/{school.slug}/poster")
    assert resp.status_code == 200
    page = body(resp)
    assert "Пишите нам" in page and "МАОУ «Школа № 3 г. Белогорск»" in page and "ул. Ленина, 12" in page
    for what, text in expected(school).items():
        assert f'src="/participants/{school.slug}/qr/{what}.svg"' in page, what
        assert f">{text.replace('?', '<wbr>?')}<" in page, what  # the address written out (a line may break at «?»)
    for caption in ("Написать в бот Telegram", "Форма обращения на сайте", "Telegram-канал «Школа № 3 — новости»",
                    "Сообщество ВКонтакте «Школа № 3»", "Дзен «Школа № 3»"):
        assert caption in page
    assert 'alt="QR-код: ' in page
    assert "style=" not in page and "<script" not in page and "data:" not in page
    assert 'href="/static/qr.css"' in page
    assert "Выйти" not in page and "topbar" not in page  # no app header on the poster


def test_codes_block_for_the_participant_page(app, bots, school):
    with app.test_request_context("/participants/x"):
        html = render_template("qr/_codes.html", participant=school, accounts=qr.active_accounts(school))
        nothing = make_institution(name="Без кодов")
        nothing.receives_appeals = False
        empty = render_template("qr/_codes.html", participant=nothing, accounts=[])
    for what in expected(school):
        assert f'src="/participants/{school.slug}/qr/{what}.svg"' in html
        assert f'href="/participants/{school.slug}/qr/{what}.png?dl=1"' in html
        assert f'href="/participants/{school.slug}/qr/{what}.svg?dl=1"' in html
    assert f'href="/participants/{school.slug}/poster"' in html
    assert "style=" not in html and "data:" not in html
    assert "qr-codes" not in empty
