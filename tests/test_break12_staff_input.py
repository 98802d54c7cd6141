"""Hostile form input on issue 12's staff routes (participants, accounts, credentials, the users' CSV import, the
one-time password link): NUL bytes, 100 000 characters, markup, ids past PostgreSQL integer, a formula — every
answer a page, never a 500 (PostgreSQL refuses NUL in text: it must be refused before)."""
from app.extensions import db
from app.models import Account
from tests.factories import make_direction, make_institution, make_user

JUNK = ["\x00", "a\x00b", "x" * 100000, "<script>x</script>", "2147483648", "-1", "=cmd|' /C calc'!A0"]


def test_hostile_staff_input_is_a_page_never_a_500(app, login):
    inst = make_institution()
    inst.slug = "nul-test"
    d = make_direction()
    acc = Account(institution=inst, network="vk", handle="nul_vk", url="https://vk.com/nul_vk", external_id="5100001")
    db.session.add(acc)
    db.session.flush()
    c = login(make_user("admin"))
    bad = []
    for j in JUNK:
        reqs = [
            ("GET", "/admin/participants", None, {"q": j, "direction": j, "receives": j}),
            ("POST", "/admin/participants/new", {"name": j, "short_name": j, "direction_id": j, "address": j, "site": j,
                                                  "smm_name": j, "smm_contacts": j, "slug": j}, None),
            ("POST", "/admin/participants/new", {"name": "Норм" + j, "short_name": "Н" + j, "direction_id": str(d.id),
                                                  "address": j, "site": "https://x.ru/" + j,
                                                  "smm_name": j, "smm_contacts": j, "slug": "ok-slug"}, None),
            ("POST", f"/admin/participants/{inst.id}", {"name": "Норм" + j, "short_name": "Н",
                                                        "direction_id": str(d.id), "slug": j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts/resolve", {"address": j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts/resolve", {"address": "https://vk.com/" + j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts", {"address": "https://vk.com/" + j, "network": j,
                                                                 "external_id": j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts/other", {"label": j,
                                                                      "url": "https://dzen.ru/" + j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts/other", {"label": "Дзен", "url": j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts/{acc.id}/credentials", {"token": j, "secret": j,
                                                                                     "confirmation_code": j,
                                                                                     "user_token": j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts/{acc.id}/clear", {"which": j}, None),
            ("POST", f"/admin/participants/{inst.id}/accounts/{acc.id}/active", {"active": j}, None),
            ("POST", "/admin/users/import/create", {"rows": "participant;name;email\n" + j + ";" + j + ";" + j}, None),
            ("GET", "/account/set-password/" + j.replace("/", ""), None, None),
            ("POST", "/account/set-password/x" + j.replace("/", ""), {"new": j, "confirm": j}, None),
        ]
        for method, url, data, qs in reqs:
            try:
                r = c.open(url, method=method, data=data, query_string=qs)
                code = r.status_code
            except Exception as e:
                code = repr(e)[:100]
            if not isinstance(code, int) or code >= 500:
                bad.append((url[:60], repr(j[:10]), code))
            db.session.rollback()
    assert not bad, bad
