"""VK residents get their names: callbacks carry only `from_id`, so after intake a names job asks VK
(users.get through the fake VK API, groups.getById for communities) and moderators see «Имя Фамилия»
instead of «id12345» — in batches of at most 1,000, once per resident, retried after a VK failure."""
import pytest
from sqlalchemy import insert

from app.extensions import db
from app.fakes import vk as payloads
from app.jobs import intake as intake_jobs
from app.models import Resident, Ticket, utcnow
from tests.factories import make_account, make_institution, make_user
from tests.vk_support import GROUP, SECRET

PEER = 512345678


@pytest.fixture
def account(vk_config):
    acc = make_account(make_institution(name="МУП «Водоканал» г. Белогорск"), network="vk")
    acc.external_id = str(GROUP)
    db.session.flush()
    return acc


def stored_name(resident_id):
    """display_name as stored (SQL), not as shown."""
    return db.session.scalar(db.select(Resident.display_name).where(Resident.id == resident_id))


def add_residents(network, ids, name=""):
    rows = [{"network": network, "external_id": str(i), "display_name": name, "created_at": utcnow()} for i in ids]
    db.session.execute(insert(Resident), rows)
    db.session.commit()
    return {r.external_id: r.id for r in db.session.scalars(db.select(Resident).where(Resident.network == network))}


def test_a_new_vk_resident_gets_the_name_and_the_ticket_page_shows_it(client, login, account, fake_vk):
    fake_vk.add_user(PEER, "Анна", "Смирнова")
    resp = client.post("/hooks/vk", json=payloads.message_new(GROUP, PEER, "Во дворе Ленина, 12 не вывозят мусор",
                                                              secret=SECRET))
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "ok"
    ticket = db.session.scalar(db.select(Ticket))
    assert stored_name(ticket.resident_id) == "Анна Смирнова"
    [call] = fake_vk.calls_of("users.get")
    assert call["params"] == {"user_ids": str(PEER), "v": "5.199"}

    moderator = login(make_user("moderator"))
    page = moderator.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "Анна Смирнова" in page and f"id{PEER}" not in page

    # the same resident writes again: known already, VK is not asked
    client.post("/hooks/vk", json=payloads.message_new(GROUP, PEER, "Подъезд 2", conversation_message_id=2,
                                                       secret=SECRET))
    assert len(fake_vk.calls_of("users.get")) == 1


def test_comment_authors_of_every_kind_get_names_communities_too(client, account, fake_vk):
    fake_vk.add_user(PEER, "Пётр", "Иванов")
    fake_vk.add_group(555, "ТСЖ «Кирова, 45»")
    client.post("/hooks/vk", json=payloads.wall_reply_new(GROUP, PEER, "Яма у школы № 3", comment_id=5,
                                                          secret=SECRET))
    client.post("/hooks/vk", json=payloads.board_post_new(GROUP, -555, "Когда починят лифт на Кирова, 45?",
                                                          secret=SECRET))
    names = dict(db.session.execute(db.select(Resident.external_id, Resident.display_name)).all())
    assert names == {str(PEER): "Пётр Иванов", "-555": "ТСЖ «Кирова, 45»"}
    assert fake_vk.calls_of("groups.getById")[0]["params"]["group_ids"] == "555"


def test_more_than_a_thousand_residents_are_fetched_in_batches_of_at_most_1000(app, vk_config, fake_vk):
    ids = range(700_000_001, 700_002_501)  # 2,500 residents
    for i in ids:
        fake_vk.add_user(i, "Житель", f"Номер{i - 700_000_000}")
    by_vk_id = add_residents("vk", ids)

    assert intake_jobs.vk_names() == 2500
    sizes = [len(c["params"]["user_ids"].split(",")) for c in fake_vk.calls_of("users.get")]
    assert sizes == [1000, 1000, 500]
    assert stored_name(by_vk_id["700002500"]) == "Житель Номер2500"
    assert db.session.scalar(db.select(db.func.count(Resident.id)).where(Resident.display_name == "")) == 0


def test_a_vk_error_leaves_names_empty_and_a_later_run_fills_them(client, login, account, fake_vk):
    fake_vk.add_user(PEER, "Анна", "Смирнова")
    fake_vk.fail(6, method="users.get")  # too many requests per second
    client.post("/hooks/vk", json=payloads.message_new(GROUP, PEER, "Нет воды на Кирова, 45", secret=SECRET))
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket is not None  # intake itself does not depend on the names
    assert stored_name(ticket.resident_id) == ""
    page = login(make_user("moderator")).get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert f"id{PEER}" in page  # the id form meanwhile, as before

    fake_vk.fail(5, method="users.get")  # a revoked token: the same
    assert intake_jobs.vk_names() == 0 and stored_name(ticket.resident_id) == ""

    assert intake_jobs.vk_names() == 1  # the periodic run
    assert stored_name(ticket.resident_id) == "Анна Смирнова"
    assert len(fake_vk.calls_of("users.get")) == 3


def test_deleted_and_banned_pages_keep_the_id_form_and_are_not_asked_again(app, vk_config, fake_vk):
    fake_vk.add_user(101, "DELETED", "", deactivated="deleted")
    fake_vk.add_user(102, "Иван", "Петров", deactivated="banned")
    fake_vk.add_user(103, "Ольга", "Кузнецова", is_closed=True)  # a closed profile still has its name
    by_vk_id = add_residents("vk", [101, 102, 103, 104])  # 104: not returned by VK at all (fake: DELETED)

    assert intake_jobs.vk_names() == 4
    assert [stored_name(by_vk_id[str(i)]) for i in (101, 102, 103, 104)] == \
        ["id101", "id102", "Ольга Кузнецова", "id104"]
    assert intake_jobs.vk_names() == 0
    assert len(fake_vk.calls_of("users.get")) == 1


def test_residents_of_other_networks_are_untouched(app, vk_config, fake_vk):
    fake_vk.add_user(777, "Анна", "Смирнова")
    tg = add_residents("telegram", [777])
    ok = add_residents("ok", [777], name="Ольга Кузнецова")
    vk = add_residents("vk", [777])

    intake_jobs.vk_names()
    assert stored_name(tg["777"]) == "" and stored_name(ok["777"]) == "Ольга Кузнецова"
    assert stored_name(vk["777"]) == "Анна Смирнова"
    assert fake_vk.calls_of("users.get")[0]["params"]["user_ids"] == "777"
    assert db.session.get(Resident, tg["777"]).display_name == ""  # the id form is for VK only


def test_running_twice_asks_vk_once(app, vk_config, fake_vk):
    for i in (11, 12, 13):
        fake_vk.add_user(i, "Имя", f"Фамилия{i}")
    add_residents("vk", [11, 12, 13])
    assert intake_jobs.vk_names() == 3
    assert intake_jobs.vk_names() == 0
    assert len(fake_vk.calls_of("users.get")) == 1


def test_without_a_vk_token_nothing_is_asked(app, vk_config, fake_vk):
    vk_config["VK_ACCESS_TOKEN"] = None
    ids = add_residents("vk", [21])
    assert intake_jobs.vk_names() == 0 and stored_name(ids["21"]) == "" and fake_vk.calls == []


def test_the_sweep_is_periodic():
    from app.jobs.schedule import PERIODIC

    [names] = [p for p in PERIODIC if p.path == "app.jobs.intake.vk_names"]
    assert names.every <= 300


def test_with_real_redis_a_thousand_webhooks_make_one_names_job(app, client, account, fake_vk, redis_url):
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from app import jobs

    app.config["REDIS_URL"] = redis_url
    try:
        for n in range(1000):
            fake_vk.add_user(600_000 + n, "Житель", f"Номер{n}")
            resp = client.post("/hooks/vk", json=payloads.message_new(GROUP, 600_000 + n, f"Яма у дома {n}",
                                                                      secret=SECRET))
            assert resp.status_code == 200
        default_q = jobs.get_queue("default")
        assert default_q.count == 1  # one names job asked for, not one per webhook
        SimpleWorker([default_q], connection=default_q.connection, serializer=JSONSerializer).work(burst=True)
    finally:
        app.config["REDIS_URL"] = None
    db.session.expire_all()
    [call] = fake_vk.calls_of("users.get")
    assert len(call["params"]["user_ids"].split(",")) == 1000
    assert db.session.scalar(db.select(db.func.count(Resident.id)).where(Resident.display_name.like("Житель %"))) \
        == 1000
