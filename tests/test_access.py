"""Who sees what: an executor never sees another institution's tickets, on any staff URL."""
import pytest

from app.extensions import db
from app.models import Ticket
from app.services import access, queue
from tests.factories import make_institution, make_ticket, make_user

STAFF_GET_URLS = ["/queue", "/queue?status=all", "/queue/arrivals?after=0", "/my", "/tickets/{number}"]
STAFF_POST_URLS = ["/tickets/{number}/status", "/tickets/{number}/assign", "/tickets/{number}/category",
                   "/tickets/{number}/note", "/tickets/{number}/reply", "/tickets/{number}/merge", "/queue/bulk"]


@pytest.fixture
def two_institutions():
    mine, other = make_institution(name="МУП «Водоканал»"), make_institution(name="МАОУ «Школа № 3»")
    own = make_ticket("Течёт труба в подвале дома 7", institution=mine, status="assigned")
    foreign = make_ticket("В школе холодно в кабинетах", institution=other, status="assigned")
    return mine, other, own, foreign


@pytest.mark.parametrize("url", STAFF_GET_URLS + STAFF_POST_URLS)
def test_anonymous_is_sent_to_login(client, two_institutions, url):
    foreign = two_institutions[3]
    method = client.post if url in STAFF_POST_URLS else client.get
    resp = method(url.format(number=foreign.number))
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


@pytest.mark.parametrize("url", STAFF_GET_URLS)
def test_executor_never_sees_other_institutions_ticket(login, two_institutions, url):
    mine, other, own, foreign = two_institutions
    client = login(make_user("executor", institution=mine))
    resp = client.get(url.format(number=foreign.number))
    body = resp.get_data(as_text=True)
    assert foreign.number not in body and "холодно" not in body
    assert resp.status_code in (200, 403, 404)


@pytest.mark.parametrize("url", STAFF_POST_URLS)
def test_executor_cannot_change_other_institutions_ticket(login, two_institutions, url):
    mine, other, own, foreign = two_institutions
    client = login(make_user("executor", institution=mine))
    data = {"version": foreign.version, "status": "in_progress", "institution_id": mine.id, "text": "x",
            "merge_into": own.number, "category_id": 1, "action": "reject", "reason": "spam",
            "ids": [foreign.id]}
    resp = client.post(url.format(number=foreign.number), data=data)
    assert resp.status_code in (403, 404, 422)
    db.session.expire_all()
    t = db.session.get(Ticket, foreign.id)
    assert t.status == "assigned" and t.institution_id == other.id
    assert foreign.number not in resp.get_data(as_text=True) or resp.status_code == 422


def test_executor_lands_on_own_workspace_with_own_tickets_only(login, two_institutions):
    mine, other, own, foreign = two_institutions
    client = login(make_user("executor", institution=mine))
    assert client.get("/").headers["Location"].endswith("/my")
    body = client.get("/my").get_data(as_text=True)
    assert own.number in body and foreign.number not in body
    assert client.get("/queue").status_code == 403


def test_scope_filter_is_the_same_for_every_query(two_institutions):
    mine, other, own, foreign = two_institutions
    ex = make_user("executor", institution=mine)
    head = make_user("head")
    f = queue.QueueFilters(statuses=[])
    assert {t.id for t in queue.page(ex, f).rows} == {own.id}
    assert {own.id, foreign.id} <= {t.id for t in queue.page(head, f).rows}
    assert access.can_view(head, foreign) and not access.can_work(head, foreign)


def test_head_and_analyst_read_but_do_not_change(login, two_institutions):
    foreign = two_institutions[3]
    for role in ("head", "analyst"):
        client = login(make_user(role))
        page = client.get(f"/tickets/{foreign.number}")
        assert page.status_code == 200 and "Изменить статус" not in page.get_data(as_text=True)
        resp = client.post(f"/tickets/{foreign.number}/status", data={"version": foreign.version,
                                                                      "status": "rejected", "reason": "spam"})
        assert resp.status_code in (403, 422)
        db.session.expire_all()
        assert db.session.get(Ticket, foreign.id).status == "assigned"


def test_read_only_roles_get_no_bulk_controls(login):
    make_ticket()
    head_page = login(make_user("head")).get("/queue").get_data(as_text=True)
    assert 'name="ids"' not in head_page and 'id="bulk"' not in head_page


# --- the press service and a participant's SMM specialist (issue 12) see no resident's ticket ---------------------
@pytest.mark.parametrize("role", ["press", "smm"])
@pytest.mark.parametrize("url", STAFF_GET_URLS + ["/queue/noise", "/board", "/control", "/queue/export"])
def test_press_and_smm_see_no_ticket_even_of_their_own_participant(login, two_institutions, role, url):
    mine, other, own, foreign = two_institutions
    client = login(make_user(role, institution=mine))  # smm of «Водоканал», whose ticket `own` is
    resp = client.get(url.format(number=own.number))
    text = resp.get_data(as_text=True)
    assert resp.status_code in (403, 404), (url, resp.status_code)
    assert own.number not in text and "Течёт труба" not in text and "холодно" not in text


@pytest.mark.parametrize("role", ["press", "smm"])
@pytest.mark.parametrize("url", STAFF_POST_URLS)
def test_press_and_smm_change_no_ticket(login, two_institutions, role, url):
    mine, other, own, foreign = two_institutions
    client = login(make_user(role, institution=mine))
    data = {"version": own.version, "status": "in_progress", "institution_id": mine.id, "text": "x",
            "merge_into": foreign.number, "category_id": 1, "action": "reject", "reason": "spam", "ids": [own.id]}
    resp = client.post(url.format(number=own.number), data=data)
    assert resp.status_code in (403, 404)
    db.session.expire_all()
    assert db.session.get(Ticket, own.id).status == "assigned"


def test_participant_rules(two_institutions):
    mine, other = two_institutions[:2]
    admin, press, smm = make_user("admin"), make_user("press"), make_user("smm", institution=mine)
    assert access.can_manage_participants(admin) and access.can_manage_participants(press)
    assert not access.can_manage_participants(smm)
    assert access.can_manage_accounts(press, other) and access.can_manage_accounts(smm, mine)
    assert not access.can_manage_accounts(smm, other)
    for role in ("moderator", "head", "analyst", "executor"):
        user = make_user(role, institution=mine)
        assert not access.can_manage_participants(user) and not access.can_manage_accounts(user, mine), role
    for user in (press, smm):
        assert not access.can_see_queue(user) and not access.sees_tickets(user)
        assert not access.can_see_board(user) and not access.can_see_personal_data(user)
        assert not access.can_view(user, two_institutions[2]) and not access.can_see_orders(user)
