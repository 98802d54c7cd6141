"""Likely repeats by meaning and place (app/services/repeats.py, issue 15, item 5)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import RepeatSuggestion, utcnow
from app.services import addresses, repeats, replies
from app.services.text import words as text_words
from bench.addresses_eval import demo_streets
from tests.data.repeat_pairs import PAIRS
from tests.factories import make_ticket, make_user


def _street_words(text):
    a = addresses.extract(text, demo_streets())
    return frozenset(addresses.stem(w)[:6] for w in text_words(a.street.split(" ", 1)[1])) if a else frozenset()


def test_precision_on_labelled_pairs():
    assert len(PAIRS) >= 40
    said = [(repeats.similarity(a, b, _street_words(a)) >= repeats.TEXT_SCORE, y) for a, b, y in PAIRS]
    tp = sum(1 for s, y in said if s and y)
    fp = sum(1 for s, y in said if s and not y)
    precision, recall = tp / (tp + fp), tp / sum(1 for _, y in said if y)
    assert precision >= 0.9, precision  # measured: 1.00 (21 of 21), recall 0.88
    assert recall >= 0.8, recall


def test_distance():
    assert repeats.distance_m(50.92, 128.47, 50.92, 128.47) == 0
    assert 100 < repeats.distance_m(50.92, 128.47, 50.921, 128.47) < 120


def _seeded():
    addresses.seed([("ул. Кирова", "Центр"), ("ул. Ленина", "Центр")])


def _intake(text, **kw):
    t = make_ticket(text, **kw)
    repeats.on_intake(t, text)
    db.session.flush()
    return t


def test_intake_suggests_same_place_same_words_only():
    _seeded()
    old = _intake("Кирова 10 не вывозят мусор уже неделю", created_at=utcnow() - timedelta(days=2))
    other_problem = _intake("Кирова 10 во дворе огромная яма на дороге", created_at=utcnow() - timedelta(days=1))
    other_house = _intake("Кирова 12 не вывозят мусор уже неделю", created_at=utcnow() - timedelta(hours=5))
    too_old = _intake("Кирова 10 мусор не вывозят", created_at=utcnow() - timedelta(days=20))
    new = _intake("на Кирова 10 мусор не вывозили 7 дней, баки переполнены")
    found = set(db.session.scalars(db.select(RepeatSuggestion.other_id)
                                   .where(RepeatSuggestion.ticket_id == new.id)))
    assert found == {old.id}
    assert other_problem.id not in found and other_house.id not in found and too_old.id not in found
    assert repeats.flagged([new.id, old.id, other_house.id]) == {new.id: 1, old.id: 1}


def test_coordinates_within_150_m():
    a = make_ticket("Открытый люк у остановки", created_at=utcnow() - timedelta(hours=3))
    a.latitude, a.longitude = 50.9200, 128.4700
    b = make_ticket("у остановки открыт люк, опасно")
    b.latitude, b.longitude = 50.9205, 128.4702  # ~57 m
    c = make_ticket("Открытый люк у остановки")
    c.latitude, c.longitude = 50.9300, 128.4700  # ~1.1 km
    db.session.flush()
    assert [(t.id, reason) for t, _, reason in repeats.candidates(b)] == [(a.id, "distance")]
    assert repeats.candidates(c) == []


def test_one_click_merge_keeps_residents_hearing_answers(client, login):
    _seeded()
    old = _intake("Ленина 15 не горит фонарь у подъезда", created_at=utcnow() - timedelta(days=1))
    new = _intake("у подъезда дома Ленина 15 темно, фонарь не горит")
    sug = db.session.scalar(db.select(RepeatSuggestion).where(RepeatSuggestion.ticket_id == new.id))
    login(make_user("moderator"))
    page = client.get(f"/tickets/{old.number}").get_data(as_text=True)
    assert "возможный повтор" in page and new.number in page
    assert "повтор?" in client.get("/queue").get_data(as_text=True)
    resp = client.post(f"/tickets/{old.number}/repeats/{sug.id}/merge", headers={"HX-Request": "true"})
    assert resp.status_code == 200
    db.session.expire_all()
    assert new.status == "merged" and new.duplicate_of_id == old.id and old.status != "merged"
    assert new.resident_id in replies.residents_of(old)
    assert repeats.flagged([old.id]) == {}


def test_dismiss_roles_and_junk(client, login):
    _seeded()
    old = _intake("Ленина 15 не горит фонарь у подъезда", created_at=utcnow() - timedelta(days=1))
    new = _intake("у подъезда дома Ленина 15 темно, фонарь не горит")
    sug = db.session.scalar(db.select(RepeatSuggestion).where(RepeatSuggestion.ticket_id == new.id))
    login(make_user("executor"))
    assert client.get("/queue/repeats").status_code in (403, 404)
    login(make_user("moderator"))
    assert client.post(f"/tickets/{new.number}/repeats/2147483648/merge").status_code == 404
    assert client.post(f"/tickets/{new.number}/repeats/99999999999/dismiss").status_code == 404
    assert client.post("/queue/repeats/merge", data={"ids": ["x", "2147483648"]}).status_code == 422
    page = client.get("/queue/repeats").get_data(as_text=True)
    assert old.number in page and new.number in page
    assert client.post(f"/tickets/{new.number}/repeats/{sug.id}/dismiss").status_code == 302
    db.session.expire_all()
    assert sug.dismissed and repeats.flagged([new.id]) == {}


def test_bulk_merge_into_oldest(client, login):
    _seeded()
    a = _intake("Кирова 44 нет отопления", created_at=utcnow() - timedelta(days=2))
    b = _intake("в квартирах на Кирова 44 холодно, отопления нет", created_at=utcnow() - timedelta(days=1))
    c = _intake("Кирова 44 отопления нет, холодно")
    login(make_user("moderator"))
    resp = client.post("/queue/repeats/merge", data={"ids": [str(c.id), str(a.id), str(b.id)]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    db.session.expire_all()
    assert b.duplicate_of_id == a.id and c.duplicate_of_id == a.id and a.is_open


def test_evaluation_set_repeats_at_the_same_address():
    """tests/data/appeals_eval.csv: every two appeals labelled with the same address become tickets of their
    labelled rubric (as routing sets it), the older first; a suggestion is right when both are of one repeat group.
    Measured: 17 suggestions, all right, of 19 repeats at one address (WRatio ≥ 75 alone: 6 of 19, and two
    wrong ones: «УК Комфорт» in a rubbish and a lighting complaint at Ленина 78)."""
    import csv
    import itertools
    from collections import defaultdict
    from pathlib import Path

    from tests.factories import make_category
    addresses.seed([(name, district) for name, _said, district in __import__("app.demo.data", fromlist=["STREETS"])
                    .STREETS])
    with open(Path(__file__).parent / "data" / "appeals_eval.csv", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["address"]]
    by_address = defaultdict(list)
    for r in rows:
        by_address[r["address"]].append(r)
    rubrics: dict[str, object] = {}
    right = wrong = positives = 0
    for same in by_address.values():
        for a, b in itertools.combinations(same, 2):
            positives += bool(a["group"]) and a["group"] == b["group"]
            for r in (a, b):
                if r["rubric"] not in rubrics:
                    rubrics[r["rubric"]] = make_category(r["rubric"])
            old = _intake(a["text"], category=rubrics[a["rubric"]], created_at=utcnow() - timedelta(hours=3))
            new = _intake(b["text"], category=rubrics[b["rubric"]], created_at=utcnow() - timedelta(hours=1))
            found = set(db.session.scalars(db.select(RepeatSuggestion.other_id)
                                           .where(RepeatSuggestion.ticket_id == new.id)))
            if old.id in found:
                if a["group"] and a["group"] == b["group"]:
                    right += 1
                else:
                    wrong += 1
            for t in (old, new):  # the next pair starts from an empty place
                t.status = "closed"
            db.session.flush()
    assert positives >= 15
    assert right / (right + wrong) >= 0.9 and right / positives >= 0.8, (right, wrong, positives)


@pytest.mark.parametrize("lat, lon", [(float("inf"), 30.0), (float("nan"), 30.0), (55.0, float("-inf")), (91.0, 30.0)])
def test_coordinates_that_cannot_be_measured_do_not_stop_the_search(app, lat, lon):
    t = make_ticket("Яма у дома", status="new")
    t.latitude, t.longitude = lat, lon
    other = make_ticket("Яма у дома", status="new")
    other.latitude, other.longitude = 55.0, 30.0
    db.session.flush()
    assert repeats.candidates(t) == []
    assert repeats._point(55.0, 30.0) and not repeats._point(lat, lon)
