"""A moderator in a real browser accepts the learned router's suggested rubric from the queue with one click: the row
is swapped in place with the rubric set, the suggestion gone, no reload (issue 15, «Done when»)."""
import uuid

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Message, Ticket
from app.services import intake
from app.services.routing_model import store, training
from tests.browser.conftest import ARTIFACTS
from tests.factories import make_user
from tests.routing_model.test_training import TOPICS, _tickets

pytestmark = [pytest.mark.browser, pytest.mark.no_db_rollback]


def test_moderator_accepts_a_suggested_rubric_in_the_queue(live_server, page):
    from tests.factories import make_category, make_institution
    city = {}
    for code, (_words, name) in TOPICS.items():
        inst = make_institution(name=f"Служба: {name}")
        city[code] = (make_category(name, institution=inst), inst)
    _tickets(city, 10)
    store.forget()
    training.run(min_n=20, n_folds=3)
    for target in ("category", "institution"):
        store.current_row(target).threshold = 1.01  # never sure: a moderator decides, helped by the top three
    db.session.flush()
    store.forget()
    m = Message(network="vk", external_id=str(uuid.uuid4()), kind="comment", thread_key="t:browser",
                text="Огромная яма на дороге у школы, асфальт разбит, колея")
    db.session.add(m)
    db.session.flush()
    ticket = intake.triage_message(m)
    make_user("moderator", username="moderator", password="demo")
    db.session.commit()
    assert ticket.category is None

    page.goto(f"{live_server}/login")
    page.get_by_label("Имя пользователя").fill("moderator")
    page.get_by_label("Пароль").fill("demo")
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_role("heading", name="Очередь обращений")).to_be_visible()
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f"#row-{ticket.id}")
    chip = row.locator('[data-offer="category"] button').first
    expect(chip).to_contain_text("Дороги")
    page.screenshot(path=str(ARTIFACTS / "queue-route-offer.png"), full_page=True)
    chip.click()
    expect(row.locator("td.cat")).to_have_text("Дороги")
    expect(row.locator('[data-offer="category"]')).to_have_count(0)
    assert page.evaluate("window.__sameDocument") is True
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).category_id == city["roads"][0].id
