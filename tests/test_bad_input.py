"""No input produces a 500: junk in every parameter and form of the staff pages."""
import pytest

from tests.factories import make_ticket, make_user

JUNK = ["", " ", "0", "-1", "99999999999999999999", "abc", "'; DROP TABLE tickets; --", "<script>alert(1)</script>",
        "%00", "я" * 3000, "None", "[]", "{}"]


@pytest.mark.parametrize("junk", JUNK)
def test_queue_parameters(login, junk):
    make_ticket()
    client = login(make_user("moderator"))
    for name in ("status", "direction", "institution", "category", "network", "overdue", "q", "sort", "cursor"):
        resp = client.get("/queue", query_string={name: junk})
        assert resp.status_code == 200, (name, junk)
        assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
    assert client.get("/queue/arrivals", query_string={"after": junk}).status_code == 200
    assert client.get("/my", query_string={"cursor": junk}).status_code in (200, 403)


@pytest.mark.parametrize("junk", JUNK)
def test_ticket_forms(login, junk):
    t = make_ticket()
    client = login(make_user("moderator"))
    for action in ("status", "assign", "category", "note", "reply", "merge"):
        data = {"version": junk, "status": junk, "reason": junk, "institution_id": junk, "category_id": junk,
                "text": junk, "merge_into": junk, "comment": junk}
        resp = client.post(f"/tickets/{t.number}/{action}", data=data, headers={"HX-Request": "true"})
        assert resp.status_code < 500, (action, junk, resp.status_code)
    resp = client.post("/queue/bulk", data={"action": junk, "ids": [junk], "institution_id": junk,
                                            "category_id": junk, "reason": junk, "merge_into": junk})
    assert resp.status_code < 500
    assert client.get(f"/tickets/{junk or 'x'}").status_code in (400, 404, 308)


def test_executor_workspace_cursor_from_another_sort_is_harmless(login):
    from tests.factories import make_institution
    inst = make_institution()
    make_ticket(institution=inst, status="assigned")
    client = login(make_user("executor", institution=inst))
    assert client.get("/my?cursor=WyJub3QgYSBkYXRlIiwgMV0").status_code == 200


@pytest.mark.parametrize("junk", JUNK)
def test_board_and_control_parameters(login, junk):
    make_ticket()
    client = login(make_user("head"))
    for url in ("/board", "/board/figures", "/board/problems", "/board/export.xlsx", "/control",
                "/control/export.xlsx", "/rating", "/rating/export.xlsx", f"/rating/{junk or 'x'}",
                "/rating/marked.xlsx"):
        for name in ("period", "from", "to", "start", "direction", "institution", "kind", "fresh", "state", "late", "cursor"):
            resp = client.get(url, query_string={name: junk, "period": "custom" if name in ("from", "to") else junk})
            assert resp.status_code < 500, (url, name, junk, resp.status_code)
            if resp.mimetype == "text/html":
                assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
    resp = client.post("/rating/mark", query_string={"period": "month", "start": junk},
                       data={"institution": junk, "note": junk, "action": junk})
    assert resp.status_code < 500, (junk, resp.status_code)
    resp = client.post("/control/new", data={"instruction": junk, "institution_id": junk, "due": junk,
                                             "ticket_id": junk, "hot_spot_id": junk, "topic": junk},
                       headers={"HX-Request": "true"})
    assert resp.status_code < 500, (junk, resp.status_code)
    t = make_ticket()
    moderator = login(make_user("moderator"))
    resp = moderator.post(f"/tickets/{t.number}/priority", data={"priority": junk, "version": junk})
    assert resp.status_code < 500, (junk, resp.status_code)


def test_an_htmx_swap_gets_the_error_message_and_a_boosted_page_the_whole_error_page(login):
    client = login(make_user("moderator"))
    swap = client.get("/tickets/НЕТ-1", headers={"HX-Request": "true"})
    boosted = client.get("/tickets/НЕТ-1", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert swap.status_code == boosted.status_code == 404
    assert "<html" not in swap.get_data(as_text=True) and "<html" in boosted.get_data(as_text=True)


# --- cross-posting (issue 13): every /posts form and parameter with junk, as smm and press ------------------------
from app.services.publishing import posts  # noqa: E402
from tests.publishing import compose_support  # noqa: E402

calls, uploads, world = compose_support.calls, compose_support.uploads, compose_support.world


@pytest.mark.parametrize("junk", JUNK)
def test_publishing_forms_and_parameters(login, world, junk):
    pub = posts.create(world.users.smm, text="Пост", account_ids=[world.acc["s_vk"].id]).publication
    delivery = pub.deliveries[0]
    data = {"text": junk, "accounts": [junk, str(world.acc["s_vk"].id)], "at": junk, "go": junk, "link_preview": junk,
            "photo_sizes": junk, "kept_sizes": junk, "remove_photos": junk, "reason": junk, "csrf_token": junk,
            "form_key": junk, "confirm": junk}
    for user in (world.users.smm, world.users.press):
        client = login(user)
        for url in ("/posts", "/posts/calendar", "/posts/new", f"/posts/{pub.id}", f"/posts/{pub.id}/edit",
                    f"/posts/{pub.id}/status", f"/posts/photos/{delivery.id}"):
            resp = client.get(url, query_string={"tab": junk, "view": junk, "date": junk, "participant": junk,
                                                 "account": junk})
            assert resp.status_code < 500, (url, junk)
            assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
        for url in ("/posts/new", "/posts/preview", f"/posts/{pub.id}/edit", f"/posts/{pub.id}/reject",
                    f"/posts/{pub.id}/text", f"/posts/{pub.id}/deliveries/{delivery.id}/resend",
                    f"/posts/{pub.id}/approve", f"/posts/{pub.id}/delete", f"/posts/{pub.id}/cancel",
                    f"/posts/accounts/{world.acc['s_vk'].id}/rights"):
            resp = client.post(url, data=data, headers={"HX-Request": "true"})
            assert resp.status_code < 500, (url, junk, resp.status_code)
            assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)


def test_every_publishing_route_is_in_the_junk_test_above(app):
    # A new /posts route fails here until test_publishing_forms_and_parameters sends it junk too.
    assert {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("publishing.")} == {
        "publishing.index", "publishing.calendar", "publishing.compose", "publishing.detail", "publishing.edit",
        "publishing.status", "publishing.photo", "publishing.preview", "publishing.reject", "publishing.edit_published",
        "publishing.resend", "publishing.approve", "publishing.delete_published", "publishing.cancel",
        "publishing.rights"}
