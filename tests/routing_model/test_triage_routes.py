"""Triage with the learned router (issue 15, item 4): the precedence deep link → override rule → the model when sure
→ the account's owner → the rubric's institution → a moderator; keywords only while no model is stored; the
«routed» event with its sources and probabilities; the model's top three in the queue row and on the ticket page,
accepted with one click; roles and junk."""
from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy import text as sa_text

from app.extensions import db
from app.models import Message, Ticket, TicketEvent
from app.services import intake
from app.services import tickets as tickets_service
from app.services.routing_model import store, training
from tests.factories import make_account, make_institution, make_resident, make_ticket, make_user
from tests.routing_model.test_training import _fresh_cache, _tickets, city  # noqa: F401 — fixtures

ROADS = "Огромная яма на дороге, асфальт разбит, колея, выбоина"


def trained(city, *, sure: bool = True):  # noqa: F811
    _tickets(city, 10)
    training.run(min_n=20, n_folds=3)
    for target in ("category", "institution"):
        store.current_row(target).threshold = 0.0 if sure else 1.01
    db.session.flush()
    store.forget()


def triage(text: str, *, account=None, resident=None) -> Ticket:
    resident = resident or make_resident("vk")
    m = Message(network="vk", external_id=str(uuid.uuid4()), kind="comment", text=text, resident=resident,
                thread_key=f"t:{uuid.uuid4()}", account=account)
    db.session.add(m)
    db.session.flush()
    return intake.triage_message(m)


def routed(ticket: Ticket) -> dict:
    e = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "routed"))
    return e.payload if e is not None else {}


def test_without_a_model_the_keywords_route_as_before(city):  # noqa: F811
    t = triage("Яма прямо у подъезда")
    assert t.category == city["roads"][0] and t.institution == city["roads"][1]
    assert t.route_suggestion is None
    p = routed(t)
    assert p["category_source"] == "keywords" and p["institution_source"] == "category" and p["category_p"] is None


def test_a_sure_model_routes_and_says_how_sure(city):  # noqa: F811
    trained(city, sure=True)
    t = triage(ROADS)
    assert t.category == city["roads"][0] and t.institution == city["roads"][1]
    p = routed(t)
    assert p["category_source"] == "model" and p["institution_source"] == "model"
    top = t.route_suggestion["category"][0]
    assert top[0] == city["roads"][0].id and p["category_p"] == pytest.approx(top[1], abs=1e-3)
    assert len(t.route_suggestion["category"]) == 3 and t.route_suggestion["category_sure"] is True


def test_an_unsure_model_leaves_the_rubric_to_a_moderator_and_keeps_its_top_three(city):  # noqa: F811
    trained(city, sure=False)
    account_owner = make_institution(name="Школа № 3")
    t = triage(ROADS, account=make_account(account_owner))
    assert t.category is None  # no keywords once a model is stored: a moderator decides
    assert t.institution == account_owner and routed(t)["institution_source"] == "account"
    assert [c for c, _p in t.route_suggestion["category"]][0] == city["roads"][0].id
    assert t.route_suggestion["category_sure"] is False


def test_precedence_deep_link_over_the_model_and_the_account(city):  # noqa: F811
    trained(city, sure=True)
    school = make_institution(name="Школа № 5")
    resident = make_resident("vk")
    resident.preferred_institution_id = school.id
    t = triage(ROADS, account=make_account(make_institution(name="Гимназия")), resident=resident)
    assert t.institution == school and routed(t)["institution_source"] == "deeplink"
    assert t.category == city["roads"][0]  # the rubric is still the model's


def test_precedence_the_override_rule_over_the_model(city, monkeypatch):  # noqa: F811
    trained(city, sure=True)
    from app.services import routing_rules

    class Match:
        rule = type("R", (), {"id": 7})()
        category, institution, matched = city["trash"][0], None, ["колея"]
    monkeypatch.setattr(routing_rules, "match", lambda text: Match() if "колея" in text else None)
    t = triage(ROADS)
    assert t.category == city["trash"][0] and routed(t)["category_source"] == "rule" and routed(t)["rule_id"] == 7
    assert t.institution == city["roads"][1] and routed(t)["institution_source"] == "model"


def queue_row(html: str, ticket: Ticket) -> str:
    return re.search(rf'<tr id="row-{ticket.id}".*?</tr>', html, re.S).group(0)


def test_the_queue_offers_the_top_three_and_one_click_accepts(login, city):  # noqa: F811
    trained(city, sure=False)
    t = triage(ROADS)
    db.session.commit()
    moderator = make_user("moderator")
    client = login(moderator)
    row = queue_row(client.get("/queue").get_data(as_text=True), t)
    offered = re.findall(r'name="category" value="(\d+)"', row)
    assert 1 <= len(offered) <= 3 and int(offered[0]) == city["roads"][0].id
    assert re.search(r"Дороги · \d+ %", row)
    resp = client.post(f"/queue/{t.id}/route", data={"category": offered[0]}, headers={"HX-Request": "true"})
    assert resp.status_code == 200
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).category == city["roads"][0]
    row = resp.get_data(as_text=True)
    assert "Дороги" in row and 'name="category"' not in row  # accepted: the offer is gone
    e = db.session.scalar(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.kind == "category"))
    assert e.actor_user_id == moderator.id  # a person's decision: training data once the ticket is resolved


@pytest.mark.parametrize("data,status", [({}, 422), ({"category": "x"}, 422), ({"category": "999999999"}, 422),
                                         ({"institution": "-5"}, 422), ({"category": "1e9"}, 422)])
def test_accept_junk_is_a_message_in_the_row(login, city, data, status):  # noqa: F811
    trained(city, sure=False)
    t = triage(ROADS)
    db.session.commit()
    resp = login(make_user("moderator")).post(f"/queue/{t.id}/route", data=data, headers={"HX-Request": "true"})
    assert resp.status_code == status and 'role="alert"' in resp.get_data(as_text=True)
    assert db.session.get(Ticket, t.id).category is None


def test_accept_roles_and_unknown_tickets(login, city):  # noqa: F811
    trained(city, sure=False)
    t = triage(ROADS)
    db.session.commit()
    cat = str(city["roads"][0].id)
    for role in ("executor", "head", "analyst"):
        assert login(make_user(role, institution=city["roads"][1])).post(
            f"/queue/{t.id}/route", data={"category": cat}).status_code == 403
    moderator = login(make_user("moderator"))
    assert moderator.post("/queue/999999999/route", data={"category": cat}).status_code == 404
    assert moderator.post("/queue/99999999999999/route", data={"category": cat}).status_code == 404


def test_the_ticket_page_offers_both_and_accepts(login, city):  # noqa: F811
    trained(city, sure=False)
    t = triage(ROADS, account=make_account(make_institution(name="Школа № 3")))
    db.session.commit()
    client = login(make_user("moderator"))
    html = client.get(f"/tickets/{t.number}").get_data(as_text=True)
    block = re.search(r'<section class="route-suggestion".*?</section>', html, re.S).group(0)
    assert "Подсказка модели" in block and 'data-offer="category"' in block and 'data-offer="institution"' in block
    first = re.search(r'name="category_id" value="(\d+)"', block).group(1)
    resp = client.post(f"/tickets/{t.number}/category", data={"category_id": first, "version": t.version},
                       headers={"HX-Request": "true"})
    assert resp.status_code == 200
    db.session.expire_all()
    assert db.session.get(Ticket, t.id).category_id == int(first)
    # an executor sees no suggestion
    html = login(make_user("executor", institution=db.session.get(Ticket, t.id).institution)).get(
        f"/tickets/{t.number}").get_data(as_text=True)
    assert "Подсказка модели" not in html


def test_a_stored_override_rule_routes_before_the_model(city):  # noqa: F811
    """An admin's rule from /admin/routing: «колея» → the rubbish rubric and a named institution."""
    from app.services import routing_rules
    trained(city, sure=True)
    special = make_institution(name="Подрядчик по колее")
    rule = routing_rules.create(make_user("admin"), "Колея", "колея", category_id=city["trash"][0].id,
                                institution_id=special.id)
    db.session.flush()
    t = triage(ROADS)
    p = routed(t)
    assert (t.category, t.institution) == (city["trash"][0], special)
    assert (p["category_source"], p["institution_source"], p["rule_id"]) == ("rule", "rule", rule.id)
    # switched off: the model again
    routing_rules.set_active(rule, False)
    t = triage(ROADS)
    assert t.category == city["roads"][0] and routed(t)["category_source"] == "model"


@pytest.mark.parametrize("junk", [b"", b"junk", b"PK\x03\x04garbage", b"\x00" * 10],
                         ids=["empty", "text", "zip", "nul"])
def test_a_model_blob_that_cannot_load_falls_back_to_the_keywords_and_is_logged(app, city, caplog, junk):  # noqa: F811
    from app.models import RoutingModel
    trained(city)
    db.session.execute(RoutingModel.__table__.update().values(blob=junk))
    db.session.flush()
    store.forget()
    t = triage("Яма прямо у подъезда")
    assert t.category == city["roads"][0] and t.route_suggestion is None
    assert routed(t)["category_source"] == "keywords"
    assert "cannot be loaded" in caplog.text
    assert triage("Яма прямо у подъезда").category == city["roads"][0]  # the broken blob is remembered, not fatal


def test_a_model_that_loads_but_cannot_predict_is_not_used(app, city, caplog, monkeypatch):  # noqa: F811
    from app.services.routing_model import model as learned
    trained(city)
    monkeypatch.setattr(learned.Model, "predict", lambda self, text, k=3: (_ for _ in ()).throw(ValueError("shape")))
    t = triage("Яма прямо у подъезда")
    assert t.category == city["roads"][0] and t.route_suggestion is None
    assert "cannot predict" in caplog.text


JUNK_SUGGESTIONS = {
    "string-pairs": {"category": "x"},
    "a-list": [[1, "a"]],
    "id-past-integer": {"category": [[2**70, 0.5]]},
    "id-a-boolean": {"category": [[True, 0.5]]},
    "huge-probability": {"category": [["CAT", 1e308]]},
    "huge-int-probability": {"category": [["CAT", 10**400]]},
    "negative": {"category": [[-1, 0.5], ["CAT", -1e300]]},
    "long-list": {"category": [["CAT", 0.5]] * 100000},
    "triples": {"category": [["CAT", 0.5, 3]], "institution": None},
    "dict": {"category": {"a": 1}},
}


@pytest.mark.parametrize("kind", JUNK_SUGGESTIONS)
def test_junk_kept_suggestions_never_fail_the_queue_or_the_page(login, city, kind):  # noqa: F811
    import json
    t = make_ticket("яма", status="new")
    t.category, t.institution = None, None
    db.session.flush()
    raw = json.dumps(JUNK_SUGGESTIONS[kind]).replace('"CAT"', str(city["roads"][0].id))
    db.session.execute(Ticket.__table__.update().where(Ticket.id == t.id)
                       .values(route_suggestion=sa_text(f"CAST(:raw AS {json_type()})").bindparams(raw=raw)))
    client = login(make_user("moderator"))
    assert client.get("/queue").status_code == 200
    page = client.get(f"/tickets/{t.number}")
    assert page.status_code == 200
    for pct in re.findall(r"· (\d+) %", page.get_data(as_text=True)):
        assert 0 <= int(pct) <= 100
    assert client.post(f"/queue/{t.id}/route", data={"category": str(city["roads"][0].id)}).status_code == 200


def json_type() -> str:
    return "JSON" if db.session.get_bind().dialect.name == "postgresql" else "TEXT"


@pytest.mark.parametrize("case", ["stale-version", "inactive-rubric", "not-receiving"])
def test_a_stale_chip_is_refused_in_the_row(login, city, case):  # noqa: F811
    cat, inst = city["roads"]
    t = make_ticket("яма", status="new")
    t.category, t.institution = None, None
    t.route_suggestion = {"category": [[cat.id, 0.9]], "institution": [[inst.id, 0.9]]}
    db.session.flush()
    client = login(make_user("moderator"))
    row = queue_row(client.get("/queue").get_data(as_text=True), t)
    version = re.search(r'name="version" value="(\d+)"', row).group(1)
    data = {"category": cat.id, "version": version} if case != "not-receiving" else \
        {"institution": inst.id, "version": version}
    if case == "stale-version":
        tickets_service.set_category(t, city["lights"][0], make_user("moderator"))
    elif case == "inactive-rubric":
        cat.is_active = False
    else:
        inst.receives_appeals = False
    db.session.commit()
    resp = client.post(f"/queue/{t.id}/route", data=data, headers={"HX-Request": "true"})
    assert resp.status_code == 422 and 'role="alert"' in resp.get_data(as_text=True)
    db.session.expire_all()
    t = db.session.get(Ticket, t.id)
    assert t.category_id != cat.id and t.institution_id != inst.id
