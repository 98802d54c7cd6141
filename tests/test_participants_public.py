"""The public directory (/participants), a participant's page, its logo and avatars, the embed variant."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.extensions import db
from tests.helpers import body

pytest_plugins = ["tests.participants_support"]


def test_directory_lists_participants_by_direction_with_current_subscribers(client, network):
    resp = client.get("/participants")
    assert resp.status_code == 200
    html = body(resp)
    assert "Тест-Образование" in html and "Тест-Культура" in html
    groups = html[html.index('class="dir-group"'):]
    assert groups.index("Тест-Образование") < groups.index("Школа № 3") < groups.index("Тест-Культура") \
        < groups.index("Музей")
    assert "1\u00a0500" in html and "800" in html
    assert 'href="https://vk.com/t_school3"' in html and 'href="https://dzen.ru/t_school3"' in html
    assert "Клуб" not in html and "9\u00a0999" not in html and "7\u00a0777" not in html  # inactive: not shown
    # headline: 2 participants, 4 accounts, 1500+300+800 subscribers; growth over 30 days: vk +60, ok +30 (tg too new)
    figures = re.findall(r'class="fig-value">([^<]+)<', html)
    assert figures[:3] == ["2", "4", "2\u00a0600"]
    assert figures[4] == "+90"


def test_filters_and_search(client, network):
    html = body(client.get("/participants?direction=t-culture"))
    assert "Музей" in html and "Школа № 3" not in html
    html = body(client.get("/participants?network=telegram"))
    assert "Школа № 3" in html and "Музей" not in html and "https://vk.com/t_school3" not in html
    html = body(client.get("/participants?q=ШКОЛА"))
    assert "Школа № 3" in html and "Краеведческий" not in html
    html = body(client.get("/participants?q=краеведческий+музей"))
    assert "Музей" in html and "Школа № 3</a>" not in html
    resp = client.get("/participants?direction=nope&network=myspace")
    assert resp.status_code == 200
    html = body(resp)
    assert "Такого направления нет" in html and "Такой сети нет" in html and "Школа № 3" in html
    html = body(client.get("/participants?q=" + "я" * 500))
    assert "первые 100 символов" in html and "Никого не нашлось" in html


def test_participant_page_shows_accounts_chart_and_posts(client, network):
    resp = client.get("/participants/t-school-3")
    assert resp.status_code == 200
    html = body(resp)
    assert "<h1>Школа № 3</h1>" in html
    assert 'href="https://vk.com/t_school3"' in html and 'href="https://t.me/t_school3"' in html
    assert "учтены с" in html and "API сети не даёт общего числа" in html  # telegram: posts seen by us
    assert "<svg" in html and 'class="line line-all"' in html and 'class="line line-vk"' in html
    assert "Подписчики по неделям" in html
    assert 'href="https://vk.com/wall-1_0"' in html and "javascript:" not in html
    assert "Новость школы номер 0" in html and "Ссылка с подвохом" in html
    assert 'href="https://school3.example.ru"' in html


@pytest.mark.parametrize("path", ["/participants/nope", "/participants/t-closed", "/participants/" + "x" * 300,
                                  "/participants/t-closed/logo", "/participants/t-school-3/logo",
                                  "/participants/avatar/999999", "/participants/avatar/99999999999"])
def test_unknown_or_inactive_is_the_404_page(client, network, path):
    resp = client.get(path)
    assert resp.status_code == 404


def test_no_personal_data_in_public_output(client, network):
    for path in ("/participants", "/participants/t-school-3", "/participants/t-museum", "/api/v1/participants",
                 "/api/v1/participants/t-school-3", "/participants?embed=1"):
        html = body(client.get(path))
        assert "Секретная" not in html and "smm-secret" not in html and "smm_" not in html, path


def test_logo_and_avatar_are_served_by_the_app(client, network, app, tmp_path):
    from app.extensions import db

    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
           b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
    old = app.config["UPLOAD_DIR"]
    app.config["UPLOAD_DIR"] = str(tmp_path)
    try:
        (tmp_path / "logo.png").write_bytes(png)
        (tmp_path / "evil.html").write_bytes(b"<script>alert(1)</script>")
        network["school"].logo_path, network["school"].logo_type = "logo.png", "image/png"
        network["vk"].avatar_path, network["vk"].avatar_type = "evil.html", "image/png"
        db.session.commit()
        resp = client.get("/participants/t-school-3/logo")
        assert resp.status_code == 200 and resp.mimetype == "image/png"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert client.get(f"/participants/avatar/{network['vk'].id}").status_code == 404  # not an image
        html = body(client.get("/participants/t-school-3"))
        assert '/participants/t-school-3/logo"' in html and f'/participants/avatar/{network["vk"].id}"' in html
        assert "data:" not in html
    finally:
        app.config["UPLOAD_DIR"] = old


def test_embed_variant_has_no_header_and_allows_the_city_site(client, network, app):
    app.config["EMBED_ALLOWED_ORIGINS"] = "https://belogorsk.example.ru"
    try:
        for path in ("/participants?embed=1", "/participants/t-school-3?embed=1"):
            resp = client.get(path)
            html = body(resp)
            assert resp.status_code == 200
            assert 'class="topbar"' not in html and 'class="embed"' in html
            csp = resp.headers["Content-Security-Policy"]
            assert "frame-ancestors 'self' https://belogorsk.example.ru" in csp
            assert "X-Frame-Options" not in resp.headers
        html = body(client.get("/participants?embed=1"))
        assert "/participants/t-school-3?embed=1" in html  # links stay inside the frame's variant
        assert 'class="topbar"' in body(client.get("/participants"))
    finally:
        app.config["EMBED_ALLOWED_ORIGINS"] = ""
    resp = client.get("/participants?embed=1")
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]


PARAM_NAMES = ("direction", "network", "q", "embed", "from", "to")
JUNK = st.one_of(st.text(max_size=300), st.sampled_from(["", "0", "-1", "1e400", "2026-02-30", "9999-99-99",
                                                         "<script>", "' OR 1=1 --", "%00", "\u202e", "я" * 1000]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.dictionaries(st.sampled_from(PARAM_NAMES), JUNK, max_size=4),
       path=st.sampled_from(["/participants", "/participants/t-school-3", "/api/v1/participants",
                             "/api/v1/participants/t-museum", "/api/v1/accounts/{vk}/snapshots"]))
def test_junk_query_params_never_500(client, network, params, path):
    resp = client.get(path.format(vk=network["vk"].id), query_string=params)
    assert resp.status_code < 500, (path, params, resp.status_code)


def test_directory_in_english(client, network, in_english):
    html = body(client.get("/participants"))
    assert "Participants of «Open Municipality»" in html and "subscribers in all" in html
    assert "1\u00a0500 subscribers" in html and "Search by name" in html
    html = body(client.get("/participants/t-school-3"))
    assert "Subscriber growth" in html and "the network's API gives no total" in html


def test_templates_still_render_outside_a_request(app):
    """Jobs render message templates with no request: the embed flag is simply off there."""
    from flask import render_template_string

    with app.app_context():
        assert render_template_string("{{ embed }}") == "False"


def test_posts_this_month_count_only_shown_accounts(client, network):
    from app.extensions import db
    from app.models import Post, utcnow
    from app.services import directory

    db.session.add(Post(account_id=network["gone"].id, external_id="gone-1", published_at=utcnow(), text="скрыт"))
    db.session.add(Post(account_id=network["hidden"].id, external_id="hidden-1", published_at=utcnow(), text="скрыт"))
    db.session.commit()
    since = directory.city_midnight(directory.city_today().replace(day=1))
    shown = {network["vk"].id, network["tg"].id, network["ok"].id}
    expected = sum(1 for p in db.session.scalars(db.select(Post)) if p.account_id in shown and p.published_at >= since)
    html = body(client.get("/participants"))
    assert re.findall(r'class="fig-value">([^<]+)<', html)[3] == str(expected)


def test_a_change_shows_at_once_though_the_groups_are_rendered_once(client, network):
    """Each direction's group is rendered once per content (app/blueprints/participants/routes.py): a new name,
    a new subscriber count or a hidden account is another content, shown on the next request."""
    assert "Школа № 3" in body(client.get("/participants"))
    network["school"].short_name = "Гимназия № 3"
    network["vk"].followers = 1600
    network["tg"].is_active = False
    db.session.commit()
    html = body(client.get("/participants"))
    assert "Гимназия № 3" in html and "Школа № 3</a>" not in html
    assert "1\u00a0600" in html and "1\u00a0500" not in html and "https://t.me/t_school3" not in html
