"""/admin/routing (issue 15): the current models, the stored evaluation report, the jobs behind «Оценить сейчас» and
«Обучить сейчас», and the admins' override rules (app/services/routing_rules.py)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from app.extensions import db
from app.jobs import routing as routing_job
from app.models import RoutingModel, RoutingRule, utcnow
from app.services import routing_rules, settings
from app.services.errors import ValidationFailed
from app.services.routing_model import overview, store
from tests.factories import make_category, make_institution, make_ticket, make_user

PAGE = "/admin/routing"


@pytest.fixture(autouse=True)
def _fresh():
    store.forget()
    routing_rules.forget()
    yield
    store.forget()
    routing_rules.forget()


@pytest.fixture
def admin_client(login):
    return login(make_user("admin"))


def test_only_admins_see_the_page(client, login):
    assert client.get(PAGE).status_code in (302, 303)
    assert "/login" in client.get(PAGE).headers["Location"]
    for role in ("moderator", "head", "executor", "analyst", "press"):
        c = login(make_user(role))
        assert c.get(PAGE).status_code == 403, role
        assert c.post(f"{PAGE}/rules", data={"new-name": "x", "new-pattern": "яма"}).status_code == 403, role
        assert c.post(f"{PAGE}/evaluate").status_code == 403, role
    assert db.session.scalar(select(RoutingRule.id)) is None
    c = login(make_user("admin"))
    assert c.get(PAGE).status_code == 200


def test_the_page_without_a_model_and_without_a_report(admin_client):
    html = admin_client.get(PAGE).get_data(as_text=True)
    assert "Модели ещё нет" in html and "Оценки ещё не было" in html
    assert "Оценить сейчас" in html and "Обучить сейчас" in html


def test_the_page_with_a_model(admin_client):
    from app.services.routing_model import model as learned

    m = learned.train(["яма на дороге", "фонарь не горит", "яма асфальт", "темно фонарь"] * 3,
                      ["1", "2", "1", "2"] * 3)
    store.put("category", m, {"top1": 0.812, "top3": 0.95, "macro_f1": 0.777, "keywords_top1": 0.6,
                              "auto_share": 0.43, "auto_precision": 0.96}, 0.71, [1, 2, 3])
    db.session.commit()
    html = admin_client.get(PAGE).get_data(as_text=True)
    assert "81.2 %" in html and "0.777" in html and "0.710" in html and "43.0 %" in html and "60.0 %" in html
    row = db.session.scalar(select(RoutingModel).where(RoutingModel.is_current.is_(True)))
    assert row.n_train == 12 and str(row.version) in html


def _history(n_per=12):
    topics = {"Дороги": "яма асфальт выбоина дорога колея", "Освещение": "фонарь освещение темно лампа столб"}
    filler = "прошу срочно разобраться неделю никто возле дома во дворе".split()
    cats = {}
    for name, topic in topics.items():
        inst = make_institution(name=f"Служба: {name}")
        cats[name] = (make_category(name, institution=inst), inst)
        cats[name][0].keywords = topic.split()[0]
    for i in range(n_per):
        for name, topic in topics.items():
            w = topic.split()
            text = f"{w[i % 5]} {w[(i + 2) % 5]} {filler[i % len(filler)]} {filler[(i * 3) % len(filler)]} дом {i}"
            make_ticket(text, category=cats[name][0], institution=cats[name][1], status="resolved")
    db.session.commit()
    return cats


def test_evaluate_now_enqueues_and_the_page_shows_the_stored_report(admin_client, monkeypatch):
    asked = []
    monkeypatch.setattr(overview, "enqueue_after_commit", lambda _s, path, *a, **kw: asked.append((path, a, kw)))
    resp = admin_client.post(f"{PAGE}/evaluate")
    assert resp.status_code == 303
    assert asked == [("app.jobs.routing.evaluate_report", (5,), {"queue": "low", "job_id": "routing-evaluate"})]
    html = admin_client.get(PAGE).get_data(as_text=True)
    assert 'id="routing-pending"' in html and "Оценки ещё не было" in html  # never computed inside the GET
    resp = admin_client.post(f"{PAGE}/train")
    assert asked[-1][0] == "app.jobs.routing.retrain" and asked[-1][1] == (True,)

    _history()
    out = routing_job.evaluate_report(3)  # the job, in-process
    assert set(out["targets"]) == {"category", "institution"}
    stored = settings.get(overview.REPORT_KEY)
    assert stored["source"] == "evaluate" and stored["folds"] == 3
    html = admin_client.get(PAGE).get_data(as_text=True)
    assert 'id="routing-pending"' not in html and 'id="routing-report-at"' in html
    assert "Отчёт оценки от" in html and "Дороги" in html and "Освещение" in html and "Служба: Дороги" in html
    assert "top-3" in html and "macro-F1" in html and "Ключевые слова" in html
    assert db.session.scalar(select(RoutingModel.id)) is None  # evaluation stores no model


def test_train_now_forces_the_retraining_and_keeps_its_report(app, monkeypatch):
    monkeypatch.setitem(app.config, "ROUTING_RETRAIN_MIN_NEW", 10_000)
    _history()
    assert routing_job.retrain()["trained"] is False
    out = routing_job.retrain(True)
    assert out["trained"] is True
    assert settings.get(overview.REPORT_KEY)["source"] == "train"


def test_a_report_of_another_shape_is_ignored(admin_client):
    settings.set(None, overview.REPORT_KEY, ["junk"])
    db.session.commit()
    assert admin_client.get(PAGE).status_code == 200
    settings.set(None, overview.REPORT_KEY, {"at": "not a date", "targets": [{"target": "<b>x</b>"}, 5]})
    db.session.commit()
    assert admin_client.get(PAGE).status_code == 200


# --- the rules through the page ----------------------------------------------------------------------------
def _form(prefix="new", **kw):
    data = {"name": "Сосульки", "pattern": "сосульк\nналедь на крыше", "category_id": "", "institution_id": "",
            "note": "", "is_active": "y"}
    data.update(kw)
    return {f"{prefix}-{k}": v for k, v in data.items() if v is not None}


def test_rule_crud_through_the_page(admin_client):
    inst = make_institution(name="УК «Дом»")
    cat = make_category("Крыши")
    db.session.commit()
    resp = admin_client.post(f"{PAGE}/rules", data=_form(category_id=str(cat.id), institution_id=str(inst.id)))
    assert resp.status_code == 303
    rule = db.session.scalar(select(RoutingRule))
    assert rule.pattern == "сосульк\nналедь на крыше" and rule.category_id == cat.id and rule.is_active
    html = admin_client.get(PAGE).get_data(as_text=True)
    assert "Крыши" in html and "УК «Дом»" in html or "УК &laquo;Дом&raquo;" in html

    edit = _form(f"r{rule.id}", name="Наледь", institution_id="", category_id=str(cat.id), is_active=None)
    resp = admin_client.post(f"{PAGE}/rules/{rule.id}", data=edit)
    assert resp.status_code == 303
    db.session.refresh(rule)
    assert rule.name == "Наледь" and rule.institution_id is None and not rule.is_active  # unchecked box

    assert admin_client.post(f"{PAGE}/rules/{rule.id}/active", data={"active": "1"}).status_code == 303
    db.session.refresh(rule)
    assert rule.is_active
    assert admin_client.post(f"{PAGE}/rules/{rule.id}/active", data={"active": "0"}).status_code == 303
    db.session.refresh(rule)
    assert not rule.is_active
    assert admin_client.post(f"{PAGE}/rules/{rule.id}/delete").status_code == 303
    db.session.expire_all()
    assert db.session.get(RoutingRule, rule.id) is None


@pytest.mark.parametrize("fields, message", [
    ({"pattern": "  \n "}, "Укажите слова или фразы"),
    ({"pattern": "в на"}, "нужно слово хотя бы из 3 букв"),
    ({"pattern": "яма\n" * 2000}, "Слишком длинный список"),
    ({"name": ""}, "Укажите название правила"),
    ({"name": "я" * 201}, "Название длиннее 200 знаков"),
    ({"category_id": "", "institution_id": ""}, "Укажите рубрику, учреждение или оба"),
    ({"category_id": "2147483648"}, "Рубрика не найдена"),
    ({"category_id": "abc"}, "Рубрика не найдена"),
    ({"institution_id": "99999"}, "Учреждение не найдено"),
])
def test_rule_validation_errors(admin_client, fields, message):
    cat = make_category("Крыши")
    db.session.commit()
    data = {"category_id": str(cat.id), **fields}
    resp = admin_client.post(f"{PAGE}/rules", data=_form(**data))
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert db.session.scalar(select(RoutingRule.id)) is None


def test_a_failed_edit_shows_its_form_open_with_the_error(admin_client):
    cat = make_category("Крыши")
    rule = routing_rules.create(None, "Сосульки", "сосульк", category_id=cat.id)
    db.session.commit()
    resp = admin_client.post(f"{PAGE}/rules/{rule.id}", data=_form(f"r{rule.id}", pattern="", category_id=str(cat.id)))
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Укажите слова или фразы" in html and "<details open>" in html
    db.session.refresh(rule)
    assert rule.pattern == "сосульк"


def test_a_pattern_with_a_script_is_escaped(admin_client):
    cat = make_category("Крыши")
    db.session.commit()
    evil = "<script>alert(1)</script>"
    assert admin_client.post(f"{PAGE}/rules", data=_form(name=evil, pattern=f"сосульк {evil}", note=evil,
                                                         category_id=str(cat.id))).status_code == 303
    html = admin_client.get(PAGE).get_data(as_text=True)
    assert evil not in html and "&lt;script&gt;" in html


def test_junk_ids_are_404_not_500(admin_client):
    for path in ("/rules/2147483648", "/rules/99999999999", "/rules/0", "/rules/77777/active", "/rules/77777/delete"):
        resp = admin_client.post(PAGE + path, data={"active": "1"})
        assert resp.status_code == 404, path
    assert admin_client.post(PAGE + "/rules/abc").status_code in (404, 405)


# --- match() ----------------------------------------------------------------------------------------------------
def test_match_first_active_rule_by_id_whole_words_and_stems():
    roofs, lights = make_category("Крыши"), make_category("Освещение")
    inst = make_institution(name="Горсвет")
    first = routing_rules.create(None, "Сосульки", "сосульк\nналедь на крыше", category_id=roofs.id)
    second = routing_rules.create(None, "Крыши и свет", "крыш", category_id=lights.id, institution_id=inst.id)
    only_inst = routing_rules.create(None, "Горсвет", "фонар\nул ленина", institution_id=inst.id)
    db.session.commit()

    hit = routing_rules.match("На крыше висят СОСУЛЬКИ, опасно!")
    assert hit.rule.id == first.id and hit.category == roofs and hit.institution is None
    assert hit.matched == ["сосульк"]
    assert routing_rules.match("НАЛЕДЬ  на крыше-у подъезда").matched == ["наледь на крыше"]  # a phrase
    assert routing_rules.match("наледь у подъезда, на крыше снег").rule.id == second.id  # words apart: no phrase
    assert routing_rules.match("Течёт крыша").rule.id == second.id
    hit = routing_rules.match("Не горит фонарь")
    assert hit.rule.id == only_inst.id and hit.category is None and hit.institution == inst
    assert routing_rules.match("Яма на ул. Ленина").rule.id == only_inst.id  # «ул» a whole word
    assert routing_rules.match("Яма на улице Ленина") is None  # «ул» is not «улица»
    assert routing_rules.match("") is None and routing_rules.match(None) is None and routing_rules.match("🙂") is None

    routing_rules.set_active(first, False)
    db.session.commit()
    assert routing_rules.match("сосульки на крыше").rule.id == second.id  # inactive ignored
    routing_rules.delete(second)
    db.session.commit()
    assert routing_rules.match("сосульки на крыше") is None


def test_match_sees_rules_written_elsewhere():
    """Another process (or a test) writing the table directly: the fingerprint changes, the cache is reread."""
    cat = make_category("Крыши")
    assert routing_rules.match("сосульки") is None
    now = utcnow()
    db.session.add(RoutingRule(name="x", pattern="сосульк", category_id=cat.id, created_at=now, updated_at=now))
    db.session.flush()
    assert routing_rules.match("сосульки").category == cat


def test_service_validation_messages():
    with pytest.raises(ValidationFailed) as exc:
        routing_rules.create(None, "x", "сосульк")
    assert exc.value.field == "category_id"
    with pytest.raises(ValidationFailed):
        routing_rules.create(None, "x", "сосульк", institution_id=-5)
    with pytest.raises(ValidationFailed):
        routing_rules.create(None, "x", "я" * 201, category_id=make_category().id)


def test_match_is_cheap_with_fifty_rules():
    cats = [make_category() for _ in range(5)]
    for i in range(50):
        routing_rules.create(None, f"Правило {i}", f"слово{i}\nфраза номер {i}\nещё{i}", category_id=cats[i % 5].id)
    db.session.commit()
    text = "Во дворе дома на улице Садовой третью неделю не вывозят мусор, контейнеры переполнены. " * 3
    routing_rules.match(text)
    t0 = time.perf_counter()
    for _ in range(50):
        assert routing_rules.match(text) is None
    per_call = (time.perf_counter() - t0) / 50
    print(f"match() with 50 rules: {per_call * 1000:.3f} ms")
    assert per_call < 0.002, per_call  # ≤ 1 ms on the machine; margin for a busy CI


JUNK = ["", " ", "0", "-1", "99999999999999999999", "abc", "'; DROP TABLE tickets; --", "<script>alert(1)</script>",
        "%00", "я" * 3000, "None", "[]", "{}", "\x00"]


@pytest.mark.parametrize("junk", JUNK)
def test_junk_in_every_rule_field_never_fails(admin_client, junk):
    cat = make_category("Крыши")
    rule = routing_rules.create(None, "Сосульки", "сосульк", category_id=cat.id)
    db.session.commit()
    fields = ("name", "pattern", "category_id", "institution_id", "note", "is_active")
    for prefix, path in (("new", "/rules"), (f"r{rule.id}", f"/rules/{rule.id}")):
        resp = admin_client.post(PAGE + path, data={f"{prefix}-{f}": junk for f in fields})
        assert resp.status_code in (303, 400, 422), (path, junk, resp.status_code)
        assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)
        resp = admin_client.post(PAGE + path, data={f"{prefix}-{f}": junk for f in fields} |
                                 {f"{prefix}-category_id": str(cat.id), f"{prefix}-name": "x"})
        assert resp.status_code in (303, 400, 422), (path, junk, resp.status_code)
    for path in (f"/rules/{rule.id}/active", "/evaluate"):
        assert admin_client.post(PAGE + path, data={"active": junk}).status_code in (303, 400)
    assert admin_client.get(PAGE, query_string={"page": junk}).status_code in (200, 400)


@pytest.mark.parametrize("pattern", ["для", "что это", "Для\nяма", "и для", "ДЛЯ"])
def test_a_line_of_function_words_only_is_refused(pattern):
    cat = make_category("Дороги")
    with pytest.raises(ValidationFailed) as exc:
        routing_rules.create(None, "Всё подряд", pattern, category_id=cat.id)
    assert "служебные слова" in exc.value.message
    rule = routing_rules.create(None, "Ямы для машин", "ямы для машин", category_id=cat.id)  # a phrase with one is fine
    assert routing_rules.match("Ямы для машин во дворе").rule == rule
    assert routing_rules.match("Справка для соседа") is None


@pytest.mark.parametrize("scores", [[1, 2], "s", None, {"top1": "x", "top3": [1]}, {"top1": 1e308, "auto_share": -5}],
                         ids=["list", "string", "null", "strings", "huge"])
@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), -1.0], ids=["nan", "inf", "negative"])
def test_a_model_row_with_junk_scores_never_fails_the_page(admin_client, scores, threshold):
    from app.services.routing_model import model as learned

    m = learned.train(["яма на дороге", "фонарь не горит", "яма асфальт", "темно фонарь"] * 3, ["1", "2", "1", "2"] * 3)
    store.put("category", m, {"top1": 0.8}, 0.71, [1, 2, 3])
    db.session.flush()
    db.session.execute(RoutingModel.__table__.update().values(scores=scores, threshold=threshold))
    db.session.commit()
    assert admin_client.get(PAGE).status_code == 200
