"""`flask seed-demo`: the demo city (directions, institutions, accounts, rubrics, staff) and tickets in every
status with consistent timelines; a second run creates nothing."""
from __future__ import annotations

import re
import string
from collections import defaultdict

from sqlalchemy import func, select

from app.demo import data, seed
from app.extensions import db
from app.models import (
    NETWORKS,
    STATUSES,
    Account,
    AccountSnapshot,
    Category,
    Direction,
    Institution,
    Message,
    Post,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from tests.helpers import count


def quiet(*args, **kwargs):
    pass


def table_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables}


def test_material_is_consistent():
    names = [i[1] for i in data.INSTITUTIONS]
    slugs = [i[3] for i in data.INSTITUTIONS]
    assert len(names) == 137
    assert len(set(names)) == len(names) and len(set(slugs)) == len(slugs)
    assert {i[0] for i in data.INSTITUTIONS} == {code for code, _ in data.DIRECTIONS}
    for _, name, short, slug, _ in data.INSTITUTIONS:
        assert len(name) <= 300 and 0 < len(short) <= 120
        assert re.fullmatch(r"[a-z][a-z0-9_]{4,31}", slug), slug  # valid Telegram/VK/MAX handle
    known = set(slugs) | {"@school", "@kindergarten"}
    placeholders = {"addr", "street", "on_street", "On_street", "on_street2", "house", "district", "days", "time",
                    "route", "temp", "entrance", "school_loc", "school_gen", "kg_loc", "kg_gen"}
    templates = [t for group in data.TEMPLATES.values() for t in group]
    templates += [t for group in data.REJECT_TEMPLATES.values() for t in group]
    for t in templates:
        assert t.get("inst", "@school") in known and t.get("ret", slugs[0]) in known
        used = {f for _, f, _, _ in string.Formatter().parse(t["t"]) if f}
        assert used <= placeholders, t["t"]
    assert set(data.TEMPLATES) == {c[0] for c in data.CATEGORIES}
    assert len(data.CATEGORIES) == 15
    directions = {code for code, _ in data.DIRECTIONS}
    for _, _, direction, inst, policy, keywords, _ in data.CATEGORIES:
        assert direction in directions and inst in slugs and keywords.strip()
        assert policy in {p[0] for p in data.SLA_POLICIES}


def test_seed_builds_the_demo_city_and_a_second_run_adds_nothing():
    summary = seed.run(tickets=60, days=30, echo=quiet)
    assert summary.tickets_created == 60

    # reference data
    assert count(Direction) == 8
    assert count(Institution) == 137
    directions = db.session.scalars(select(Direction)).all()
    assert {d.code: d.name for d in directions}["zhkh"] == "ЖКХ"
    for d in directions:
        assert d.institutions, f"direction {d.code} has no institutions"
    for inst in db.session.scalars(select(Institution)):
        assert inst.accounts, f"{inst.name} has no account"
        assert inst.address.startswith("Амурская обл., г. Белогорск, ") and inst.phone.startswith("+7 (41641) ")
    every = db.session.scalars(select(Account)).all()
    accounts = [a for a in every if a.network != "other"]
    assert {a.network for a in every} == {*NETWORKS, "other"}  # plain links to other networks too
    assert all(a.followers == 0 and a.label for a in every if a.network == "other")
    assert 330_000 <= sum(a.followers for a in accounts) <= 343_000  # «336,5 тысячи подписчиков»
    assert {i.slug for i in db.session.scalars(select(Institution))} == {row[3] for row in data.INSTITUTIONS}
    snapshots = defaultdict(list)
    for s in db.session.scalars(select(AccountSnapshot).order_by(AccountSnapshot.taken_on)):
        snapshots[s.account_id].append(s)
    days = [r.taken_on for r in snapshots[accounts[0].id]]
    # daily, a year and more
    assert len(days) >= 365 and all((b - a).days == 1 for a, b in zip(days, days[1:], strict=False))
    for a in accounts:
        rows = snapshots[a.id]
        assert len(rows) >= (365 if a.network != "max" else 90)
        assert [r.followers for r in rows] == sorted(r.followers for r in rows)  # growing
        assert rows[-1].followers == a.followers and rows[-1].posts == a.posts
    posts = db.session.scalars(select(Post)).all()
    assert len(posts) > 50 * len(accounts)  # a year of posts for each account
    assert all(p.permalink.startswith("https://") and p.text for p in posts[:500])
    assert all((p.views is not None) == (p.account.network in ("vk", "ok")) for p in posts[:2000])
    seen = [a for a in accounts if a.posts_source == "seen"]
    assert seen and all(a.network in ("telegram", "max") for a in seen)
    assert count(Category) == 15
    assert all(c.keywords and c.direction_id and c.sla_policy_id for c in db.session.scalars(select(Category)))

    # staff
    users = {u.username: u for u in db.session.scalars(select(User))}
    assert {name: u.role for name, u in users.items()} == {
        "admin": "admin", "moderator": "moderator", "head": "head", "analyst": "analyst", "executor": "executor",
        "press": "press", "smm": "smm", "smm_cbs": "smm"}
    assert all(u.check_password("demo") for u in users.values())
    executor = users["executor"]
    assert executor.institution.direction.code == "zhkh" and "Водоканал" in executor.institution.name
    assert users["moderator"].full_name == "Анна Смирнова"
    assert users["smm"].institution.slug == "school3_blg" and users["press"].institution is None  # an SM-specialist

    # tickets
    tickets = db.session.scalars(select(Ticket)).all()
    assert len(tickets) == 60
    assert {t.status for t in tickets} == set(STATUSES)
    now = utcnow()
    open_tickets = [t for t in tickets if t.is_open]
    overdue = [t for t in open_tickets if t.is_overdue(now)]
    assert 1 <= len(overdue) < len(open_tickets) / 2
    assert any(t.institution_id == executor.institution_id and t.status not in ("new", "rejected") for t in tickets)
    messages = defaultdict(list)
    for m in db.session.scalars(select(Message)):
        messages[m.ticket_id].append(m)
    events = defaultdict(list)
    for e in db.session.scalars(select(TicketEvent).order_by(TicketEvent.ticket_id, TicketEvent.id)):
        events[e.ticket_id].append(e)
    for t in tickets:
        (message,) = messages[t.id]
        assert message.external_id.startswith("demo-") and message.text == t.summary
        assert message.network == t.network == t.account.network == t.resident.network
        timeline = events[t.id]
        assert timeline[0].kind == "created" and timeline[0].created_at == t.created_at
        moments = [e.created_at for e in timeline]
        assert moments == sorted(moments), f"{t.number}: events out of order"
        assert moments[-1] <= now and t.updated_at == moments[-1]
        status = "new"  # the status events chain up to the ticket's status
        for e in timeline:
            if e.kind == "status":
                assert e.payload["from"] == status
                status = e.payload["to"]
        assert status == t.status, t.number
        if t.status in ("assigned", "in_progress", "waiting_resident", "resolved", "closed"):
            assert t.institution_id is not None and t.assigned_at is not None
        if t.status in ("resolved", "closed"):
            assert t.resolved_at is not None and t.first_responded_at is not None and t.replies
        if t.status == "merged":
            assert t.duplicate_of is not None and t.duplicate_of.status != "merged"
        if t.status == "rejected":
            assert t.reject_reason
        if t.reject_reason == "thanks":
            assert re.search(r"[Сс]пасибо|[Бб]лагодар", t.summary)
        if t.rating is not None:
            assert t.status in ("resolved", "closed") and 1 <= t.rating <= 5

    # idempotent: nothing new anywhere
    before = table_counts()
    again = seed.run(tickets=60, days=30, echo=quiet)
    assert table_counts() == before
    assert again.tickets_created == 0 and again.tickets_present == 60 and not any(again.created.values())


def test_a_bigger_request_adds_only_the_missing_tickets():
    seed.run(tickets=20, days=10, echo=quiet)
    seed.run(tickets=30, days=10, echo=quiet)
    ids = db.session.scalars(select(Message.external_id)).all()
    assert sorted(ids, key=lambda x: int(x.split("-")[1])) == [f"demo-{n}" for n in range(1, 31)]
    assert count(Ticket) == 30 and count(Institution) == 137


def test_seed_demo_command(app):
    result = app.test_cli_runner().invoke(args=["seed-demo", "--tickets", "30", "--days", "20"])
    assert result.exit_code == 0, result.output
    assert "Обращения" in result.output  # the progress bar
    assert "учреждений: 137" in result.output
    assert "обращений: создано 30" in result.output
    assert count(Ticket) == 30


def test_the_demo_has_published_scheduled_and_waiting_posts_of_both_publishers():
    from app.models import Delivery, Publication

    seed.run(tickets=10, days=10, echo=quiet)
    pubs = db.session.scalars(select(Publication)).all()
    by_author = {(p.author.username, p.state) for p in pubs}
    assert {("smm", "done"), ("smm", "scheduled"), ("press", "done"), ("press", "scheduled"),
            ("smm_cbs", "awaiting_approval")} <= by_author
    # the SM-specialist's posts go to her school's accounts only, the library's waits for the press service
    smm_posts = [p for p in pubs if p.author.username == "smm"]
    assert {d.account.institution.slug for p in smm_posts for d in p.deliveries} == {data.SMM_INSTITUTION}
    waiting = next(p for p in pubs if p.state == "awaiting_approval")
    assert waiting.institution.posts_need_approval and {d.state for d in waiting.deliveries} == {"waiting"}
    published = [d for d in db.session.scalars(select(Delivery).where(Delivery.state == "published"))]
    assert published and all(d.permalink and d.post is not None and d.post.source == "app" for d in published)
    # the accounting row is the copy's (an edit or a comment finds it by the platform's id)
    assert all(d.post.external_id == d.external_id for d in published)
    # the trouble kinds are shown with a reason
    assert {d.state for d in db.session.scalars(select(Delivery))} >= {"failed", "unconfirmed", "scheduled"}
    assert all(d.last_error for d in db.session.scalars(select(Delivery).where(
        Delivery.state.in_(("failed", "unconfirmed")))))


def test_the_publishers_vk_accounts_hold_the_demo_user_token_encrypted():
    """A VK community token cannot upload photos: the accounts the demo's smm and press publish to hold a user
    token (encrypted; the demo's fake VK knows it — simulate.tell_fakes), the others none."""
    from app.demo.publications import DEMO_VK_USER_TOKEN, PUBLISHING_PARTICIPANTS
    from app.services.secretbox import decrypt

    seed.run(tickets=10, days=10, echo=quiet)
    vk = db.session.scalars(select(Account).where(Account.network == "vk")).all()
    mine = [a for a in vk if a.institution.slug in PUBLISHING_PARTICIPANTS]
    assert mine and all(decrypt(a.user_token_enc) == DEMO_VK_USER_TOKEN for a in mine)
    assert all(DEMO_VK_USER_TOKEN not in a.user_token_enc for a in mine)
    assert all(a.user_token_enc is None for a in vk if a not in mine)
