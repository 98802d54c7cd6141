"""Every registered route (app.url_map, so new routes are covered without editing this file), as every role and
anonymously, with ids beyond PostgreSQL's integer range and junk in every known parameter: never a 5xx, and every
answer carries the security headers (issue 9, items 4 and 7)."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from tests.factories import make_institution, make_ticket, make_user

BIG_IDS = ("99999999999", "2147483648")
JUNK = ["", " ", "0", "-1", "2147483648", "99999999999999999999", "1e400", "abc", "'; DROP TABLE tickets; --",
        "<script>alert(1)</script>", "я" * 300, "None", "[]", "{}", "2026-13-45", "ЯЯЯ-2026-000001", "\x7f\u202e"]
# Every name the views read from a query string or a form (grep of app/: args.get / form fields).
PARAMS = ("action", "active", "address", "after", "answer", "before", "business_hours", "category", "category_id",
          "comment", "confirm", "consent", "current", "cursor", "date", "default_institution_id", "direction", "due",
          "email", "first_response_minutes", "fresh", "from", "full_name", "hot_spot_id", "id", "ids", "institution",
          "institution_id", "instruction", "keywords", "kind", "late", "limit", "merge_into", "name", "network", "new",
          "next", "note", "number", "overdue", "page", "password", "period", "phone", "priority", "promised", "q",
          "reason", "regime", "remember", "resolution_minutes", "role", "rows", "sla", "sort", "source", "stamp",
          "state", "status", "submission_id", "text", "ticket_id", "to", "topic", "username", "v", "version", "view",
          "warning_percent", "year",
          # participants and their accounts (issue 12)
          "confirmation_code", "direction_id", "external_id", "file", "label", "public_feedback", "receives",
          "receives_appeals", "remove_logo", "secret", "short_name", "site", "slug", "smm_contacts", "smm_name",
          "token", "url", "user_token", "which",
          # cross-posting (issue 13)
          "accounts", "at", "form_key", "go", "kept_sizes", "link_preview", "participant", "photo_sizes", "photos",
          "remove_photos", "tab",
          # the rating (issue 14): the public «Лучшие участники» toggle
          "enabled")
# Every parameter at once just beyond PostgreSQL integer / bigint, and a real-looking small id.
UNIFORM = [{name: value for name in PARAMS} for value in ("2147483648", "-2147483649", "9223372036854775808", "1")]
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
SKIP_POST = {"auth.logout"}  # ends the sweeping client's session; tested in tests/test_security.py
ROLES = ("anonymous", "admin", "moderator", "executor", "head", "analyst", "press", "smm")


def junk_params(shift: int) -> dict:
    return {name: JUNK[(i + shift) % len(JUNK)] for i, name in enumerate(PARAMS)}


def paths(rule, number: str) -> list[str]:
    """The rule's path with out-of-range ids in every <int:…>; other parts get a real ticket number and junk."""
    out = []
    for big in BIG_IDS:
        for word in (number, "x%00<y>", "ЯЯЯ-9999-999999999"):
            out.append(re.sub(r"<([a-z]+):[^>]+>|<([^>]+)>",
                              lambda m, big=big, word=word: big if m.group(1) == "int" else word, rule.rule))
    return sorted(set(out))


def assert_secure(resp, what):
    assert resp.status_code < 500, (what, resp.status_code, resp.get_data(as_text=True)[:300])
    for name, value in HEADERS.items():
        assert resp.headers.get(name) == value, (what, name)
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp or "sandbox" in csp, (what, csp)
    if "sandbox" not in csp:
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp, (what, csp)
        assert resp.headers.get("X-Frame-Options") == "DENY", what


@pytest.fixture
def people():
    inst = make_institution()
    ticket = make_ticket(institution=inst)
    users = {role: make_user(role, institution=inst if role in ("executor", "smm") else None) for role in ROLES[1:]}
    db.session.commit()
    return ticket, users


@pytest.mark.parametrize("role", ROLES)
def test_every_route_with_big_ids_and_junk_never_fails(app, client, login, people, role):
    ticket, users = people
    if role != "anonymous":
        client = login(users[role])
    rules = [r for r in app.url_map.iter_rules() if r.endpoint != "static"]
    assert len(rules) > 50  # the sweep sees the whole app
    for n, rule in enumerate(rules):
        for path in paths(rule, ticket.number):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if method == "POST" and rule.endpoint in SKIP_POST:
                    continue
                for params in (junk_params(n), *UNIFORM):
                    what = (role, method, rule.rule, path, params.get("id"))
                    if method == "GET":
                        resp = client.get(path, query_string=params)
                    else:
                        resp = client.open(path, method=method, data=params, headers={"HX-Request": "true"})
                    assert_secure(resp, what)
                    if resp.mimetype == "text/html":
                        assert "<script>alert(1)</script>" not in resp.get_data(as_text=True), what


def test_the_named_examples(client, login, people):
    _ticket, users = people
    admin = login(users["admin"])
    assert admin.get("/control/99999999999").status_code == 404
    from app.models import SlaPolicy

    policy = SlaPolicy(name="Соцсети", first_response_minutes=60, resolution_minutes=600)
    db.session.add(policy)
    db.session.commit()
    resp = admin.post(f"/admin/sla/{policy.id}", headers={"HX-Request": "true"},
                      data={f"p{policy.id}-first_response_minutes": "60",
                            f"p{policy.id}-resolution_minutes": "2147483648",
                            f"p{policy.id}-warning_percent": "80"})
    assert resp.status_code == 422 and "Срок не может быть больше года" in resp.get_data(as_text=True)
    db.session.refresh(policy)
    assert policy.resolution_minutes == 600
    head = login(users["head"])
    import base64
    import json

    naive = base64.urlsafe_b64encode(json.dumps(["2026-11-30T10:00:00", 1]).encode()).decode().rstrip("=")
    resp = head.get("/control", query_string={"cursor": naive})
    assert resp.status_code in (200, 400, 422)
