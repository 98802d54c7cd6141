"""`flask simulate`: residents' messages go through the real webhooks, become tickets, and the
acknowledgements reach the local fakes of the networks."""
import threading

import pytest
from werkzeug.serving import make_server

from app.demo import simulate
from app.extensions import db
from app.models import Message, Reply, Ticket
from tests.factories import make_account, make_institution
from tests.support import wipe_tables

pytestmark = pytest.mark.no_db_rollback


@pytest.fixture
def demo_fakes():
    """The platform fakes on free ports (never the demo's fixed PORTS: `make run` may hold them)."""
    fakes = simulate.start_fakes(list(simulate.DRIVERS), ports={n: 0 for n in simulate.DRIVERS})
    try:
        yield fakes
    finally:
        for fake in fakes.values():
            fake.stop()


@pytest.fixture
def demo_server(app, demo_fakes):
    env = simulate.demo_env(simulate.bound_ports(demo_fakes))
    saved = {k: app.config.get(k) for k in env}
    app.config.update(env)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        app.config.update(saved)
        db.session.rollback()
        wipe_tables()


def test_simulated_residents_become_tickets_with_acknowledgements(demo_server, demo_fakes):
    for network in simulate.DRIVERS:
        acc = make_account(make_institution(), network=network)
        acc.external_id = {"telegram": "-1001234567890", "vk": "123456", "ok": "70000000000001",
                           "max": "-700000001"}[network]
    db.session.commit()
    lines = []
    accepted = simulate.run(demo_server, every=0, count=12, seed=7, echo=lines.append, fakes=demo_fakes)
    assert accepted == 12 and len(lines) == 12
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count(Message.id))) == 12
    tickets = db.session.scalar(db.select(db.func.count(Ticket.id)))
    assert tickets >= 6  # a few are thanks/emoji, set aside as «не обращение»
    sent = db.session.scalars(db.select(Reply).where(Reply.kind == "ack")).all()
    assert len(sent) == tickets and all(r.state == "sent" and r.external_id for r in sent)


def test_the_tests_bind_no_fixed_port_of_the_demo(demo_fakes):
    """`make test` beside a running `make run`: the fakes of the tests listen elsewhere than the demo's."""
    assert not set(simulate.bound_ports(demo_fakes).values()) & set(simulate.PORTS.values())
    assert simulate.demo_env(simulate.bound_ports(demo_fakes))["VK_API_URL"] == demo_fakes["vk"].base_url


@pytest.mark.parametrize("args, port", [([], 5000), (["PORT=8080"], 8080)])
def test_make_run_serves_on_the_port_given_and_prints_it(args, port):
    """`make run PORT=8080`: the app, the simulator's target and the printed address follow (5000 by default)."""
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("no make on this machine")
    root = Path(__file__).resolve().parent.parent
    dry = subprocess.run(["make", "-n", "run", *args], cwd=root, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "VENV": ".venv"}).stdout
    assert f"flask run --host 127.0.0.1 --port {port}" in dry
    assert f"flask simulate --url http://127.0.0.1:{port}" in dry
    assert f"http://127.0.0.1:{port}" in dry and ("5000" in dry) == (port == 5000)


def test_the_demo_offers_the_feedback_bots_qr_codes(app, client, demo_fakes):
    """`make run`: a participant's page shows «Написать в бот Telegram» and the MAX bot, not only the web form."""
    env = simulate.demo_env(simulate.bound_ports(demo_fakes))
    saved = {k: app.config.get(k) for k in env}
    app.config.update(env)
    try:
        inst = make_institution()
        db.session.commit()
        page = client.get(f"/participants/{inst.slug}").get_data(as_text=True)
        assert f"https://t.me/belogorsk_obrashcheniya_bot?start={inst.feedback_code}" in page
        assert f"https://max.ru/belogorsk_obrashcheniya?start={inst.feedback_code}" in page
        assert client.get(f"/participants/{inst.slug}/qr/bot-telegram.png").status_code == 200
    finally:
        app.config.update(saved)
        db.session.rollback()
        wipe_tables()


def test_the_simulator_publishes_a_post_and_residents_comment_under_it(demo_server, demo_fakes):
    """Issue 13 item 7: now and then the demo's smm publishes through posts.create to the fakes (the bot an admin
    allowed to post everywhere, the VK account's user token known to the fake VK), and the next messages are
    residents' comments under that post, which the tickets link to."""
    from app.demo.publications import DEMO_VK_USER_TOKEN
    from app.models import Delivery, Post, Publication
    from app.services.secretbox import encrypt
    from tests.factories import make_user

    school = make_institution(name="Средняя школа № 3")
    ids = {"telegram": "-1001234567801", "vk": "123457", "ok": "70000000000002", "max": "-700000002"}
    for network, ext in ids.items():
        acc = make_account(school, network=network)
        acc.external_id, acc.title = ext, "Школа № 3"
        if network == "vk":
            acc.user_token_enc = encrypt(DEMO_VK_USER_TOKEN)
    make_user("smm", institution=school, username="smm")
    db.session.commit()
    simulate.tell_fakes(demo_fakes)
    lines = []
    simulate.run(demo_server, every=0, count=24, seed=3, echo=lines.append, fakes=demo_fakes, publish_every=20)
    db.session.expire_all()
    pub = db.session.scalar(db.select(Publication))
    assert pub is not None and pub.author.username == "smm" and any("публикует пост" in line for line in lines)
    rows = {d.network: d for d in db.session.scalars(db.select(Delivery).where(Delivery.publication_id == pub.id))}
    assert {n: d.state for n, d in rows.items()} == dict.fromkeys(ids, "published"), \
        {n: (d.state, d.last_error) for n, d in rows.items()}
    assert pub.state == "done"
    assert [m["text"] for m in demo_fakes["telegram"].received(int(ids["telegram"]))] == [pub.text]
    assert [p["text"] for p in demo_fakes["vk"].wall(int(ids["vk"]))] == [pub.text]
    assert len(demo_fakes["ok"].topics_of(ids["ok"])) == 1
    assert [m["text"] for m in demo_fakes["max"].received(int(ids["max"])) if m["text"] == pub.text] == [pub.text]
    from app.jobs import intake as intake_jobs

    intake_jobs.ok_comments()  # OK pushes no comments: the periodic job polls those under the app's OK posts
    db.session.expire_all()
    linked = db.session.scalars(db.select(Message).where(Message.post_id.in_(
        [rows["vk"].post_id, rows["telegram"].post_id, rows["ok"].post_id]))).all()
    assert {m.network for m in linked} <= {"vk", "telegram", "ok"}
    assert len(linked) == simulate.COMMENTS_PER_POST
    assert all(m.ticket_id is not None for m in linked)
    assert {db.session.get(Post, m.post_id).source for m in linked} == {"app"}


def test_each_run_of_the_demo_fakes_numbers_posts_afresh():
    """The demo's database outlives the fakes: a post published after a restart must not take an earlier run's id."""
    ids = []
    for base in (100, 5000):
        fakes = simulate.start_fakes(list(simulate.DRIVERS), ports={n: 0 for n in simulate.DRIVERS})
        try:
            simulate._ids_of_this_run(fakes, base)
            assert next(fakes["vk"]._post_ids) == base and next(fakes["ok"]._seq) == base
            assert next(fakes["max"]._seq) == base
            assert next(fakes["telegram"]._chat_message_ids.setdefault(-100123, None)) == base
            ids.append(base)
        finally:
            for fake in fakes.values():
                fake.stop()
    assert ids == [100, 5000]
