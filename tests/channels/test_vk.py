"""VK through the real webhook (POST /hooks/vk) and a local fake of the VK API: what residents and
moderators notice — tickets in the queue, acknowledgements in VK, retries that never post twice."""
from datetime import timedelta

import pytest

from app.channels.base import OutgoingReply
from app.channels.vk import VkAdapter, random_id
from app.extensions import db
from app.fakes import vk as payloads
from app.models import IntakeRejection, Message, Reply, Resident, Ticket, TicketEvent, utcnow
from app.services import replies
from tests.factories import make_account, make_institution, make_user
from tests.vk_support import CONFIRM, GROUP, SECRET

PEER = 512345678  # the resident's VK id (a dialog's peer_id is the user id)


@pytest.fixture
def account(vk_config):
    inst = make_institution(name="МУП «Водоканал» г. Белогорск")
    acc = make_account(inst, network="vk")
    acc.external_id = str(GROUP)
    db.session.flush()
    return acc


def hook(client, payload):
    return client.post("/hooks/vk", json=payload)


def text_of(resp):
    return resp.get_data(as_text=True)


def count(model):
    return db.session.scalar(db.select(db.func.count(model.id)))


def dm(text, cmid=1, **kw):
    return payloads.message_new(GROUP, PEER, text, conversation_message_id=cmid, secret=SECRET, **kw)


def comment(text, comment_id=10, post_id=77, from_id=PEER, **kw):
    return payloads.wall_reply_new(GROUP, from_id, text, post_id=post_id, comment_id=comment_id, secret=SECRET, **kw)


def test_confirmation_answers_the_configured_string_as_plain_text(client, vk_config):
    resp = hook(client, payloads.confirmation(GROUP))
    assert resp.status_code == 200 and text_of(resp) == CONFIRM
    assert resp.content_type.startswith("text/plain")
    assert count(Message) == 0


def test_wrong_secret_or_foreign_group_is_403_and_nothing_is_stored(client, account, fake_vk):
    wrong = payloads.message_new(GROUP, PEER, "Нет воды на Кирова, 45", secret="guess")
    no_secret = payloads.message_new(GROUP, PEER, "Нет воды на Кирова, 45")
    foreign = payloads.message_new(GROUP + 1, PEER, "Нет воды на Кирова, 45", secret=SECRET)
    for payload in (wrong, no_secret, foreign, payloads.confirmation(GROUP + 1)):
        assert hook(client, payload).status_code == 403
    assert count(Message) == 0 and count(Ticket) == 0 and fake_vk.calls == []


def test_events_are_refused_when_no_secret_is_configured(client, account, vk_config):
    vk_config["VK_SECRET"] = None
    assert hook(client, dm("Нет воды на Кирова, 45")).status_code == 403
    assert text_of(hook(client, payloads.confirmation(GROUP))) == CONFIRM  # confirming the server still works
    assert count(Message) == 0


def test_community_message_becomes_a_ticket_and_the_ack_arrives_in_the_dialog(client, login, account, fake_vk):
    resp = hook(client, dm("Во дворе дома Ленина, 12 третий день не вывозят мусор", cmid=41))
    assert resp.status_code == 200 and text_of(resp) == "ok"
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.account_id == account.id and ticket.institution_id == account.institution_id
    assert ticket.network == "vk" and ticket.resident.external_id == str(PEER)
    message = ticket.messages[0]
    assert message.external_id == f"msg:{PEER}:41" and message.kind == "direct"
    assert message.thread_key == f"vk:dm:{PEER}"

    [sent] = fake_vk.messages
    assert sent["peer_id"] == str(PEER) and ticket.number in sent["message"]
    assert sent["random_id"] == str(random_id(f"reply-{ticket.replies[0].id}"))
    ack = db.session.scalar(db.select(Reply).where(Reply.ticket_id == ticket.id))
    assert ack.state == "sent" and ack.external_id == str(sent["id"])

    queue = text_of(login(make_user("moderator")).get("/queue"))
    assert ticket.number in queue


def test_wall_comment_becomes_a_ticket_answered_under_the_residents_comment(client, login, account, fake_vk):
    resp = hook(client, comment("Яма на дороге у школы № 3, машины объезжают по тротуару", comment_id=501))
    assert text_of(resp) == "ok"
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.account_id == account.id and ticket.institution_id == account.institution_id
    message = ticket.messages[0]
    assert message.kind == "comment" and message.external_id == f"wall:-{GROUP}_77_501"
    assert message.permalink == f"https://vk.com/wall-{GROUP}_77?reply=501"

    [sent] = fake_vk.comments
    assert sent["owner_id"] == str(-GROUP) and sent["post_id"] == "77" and sent["reply_to_comment"] == "501"
    assert sent["from_group"] == str(GROUP) and sent["guid"].startswith("reply-")
    assert ticket.number in sent["message"]
    assert ticket.replies[0].state == "sent" and ticket.replies[0].external_id == str(sent["id"])
    page = text_of(login(make_user("moderator")).get("/queue"))
    assert ticket.number in page


def test_second_comment_under_the_same_post_joins_the_ticket(client, account, fake_vk):
    hook(client, comment("Нет освещения во дворе дома Кирова, 45", comment_id=10))
    hook(client, comment("Подъезды 2 и 3, уже неделю темно", comment_id=11, reply_to_comment=10))
    assert count(Ticket) == 1
    ticket = db.session.scalar(db.select(Ticket))
    assert len(ticket.messages) == 2
    second = db.session.scalar(db.select(Message).where(Message.external_id == f"wall:-{GROUP}_77_11"))
    assert second.reply_to_external_id == f"wall:-{GROUP}_77_10"
    assert len(fake_vk.comments) == 1  # one acknowledgement per ticket

    hook(client, comment("А на Партизанской яма", comment_id=12, post_id=78))  # another post: another thread
    hook(client, comment("Нет освещения у дома 45", comment_id=13, from_id=PEER + 1))  # another resident
    assert count(Ticket) == 3


def test_our_own_comment_coming_back_is_not_an_appeal(client, account, fake_vk):
    hook(client, comment("Нет освещения во дворе дома Кирова, 45", comment_id=10))
    echo = comment(fake_vk.comments[0]["message"], comment_id=fake_vk.comments[0]["id"], from_id=-GROUP,
                   reply_to_comment=10)
    assert text_of(hook(client, echo)) == "ok"
    assert count(Message) == 1 and count(Ticket) == 1


def test_edited_comment_updates_the_timeline_without_a_new_ticket(client, login, account):
    hook(client, comment("Нет воды на Кирова", comment_id=10))
    edit = payloads.wall_reply_edit(GROUP, PEER, "Нет воды на Кирова, 45, подъезд 2", post_id=77, comment_id=10,
                                    secret=SECRET)
    for _ in range(3):
        assert text_of(hook(client, edit)) == "ok"
    assert count(Ticket) == 1 and count(Message) == 2
    ticket = db.session.scalar(db.select(Ticket))
    [event] = db.session.scalars(db.select(TicketEvent).where(TicketEvent.kind == "message_edited")).all()
    assert event.ticket_id == ticket.id and event.payload["text"] == "Нет воды на Кирова, 45, подъезд 2"
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "Нет воды на Кирова, 45, подъезд 2" in page

    again = payloads.wall_reply_edit(GROUP, PEER, "Нет воды на Кирова, 45, подъезд 2, кв. 7", post_id=77,
                                     comment_id=10, secret=SECRET)
    hook(client, again)
    assert count(Ticket) == 1
    kinds = db.session.scalars(db.select(TicketEvent.kind).where(TicketEvent.kind == "message_edited")).all()
    assert len(kinds) == 2


def test_same_event_delivered_a_hundred_times_is_one_message(client, account, fake_vk):
    payload = dm("Не горит фонарь у дома Советская, 8", cmid=7)
    answers = [text_of(hook(client, payload)) for _ in range(100)]
    assert answers == ["ok"] * 100
    assert count(Message) == 1 and count(Ticket) == 1 and len(fake_vk.messages) == 1


def test_malformed_payload_is_400_and_kept_for_the_admin(client, account):
    no_type = {"group_id": GROUP, "event_id": "x", "v": "5.199", "secret": SECRET, "object": {}}
    no_object = {"type": "message_new", "group_id": GROUP, "event_id": "y", "v": "5.199", "secret": SECRET}
    broken = dm("Яма")
    del broken["object"]["message"]["peer_id"], broken["object"]["message"]["from_id"]  # whose? nobody knows
    for payload in (no_type, no_object, broken):
        resp = hook(client, payload)
        assert resp.status_code == 400, payload
    rejections = db.session.scalars(db.select(IntakeRejection).order_by(IntakeRejection.id)).all()
    assert [r.network for r in rejections] == ["vk"] * 3
    assert "no event type" in rejections[0].reason and "has no object" in rejections[1].reason
    assert '"message_new"' in rejections[1].body
    assert count(Message) == 0


def test_other_events_are_answered_ok_and_store_nothing(client, account, fake_vk):
    hook(client, comment("Нет воды на Кирова", comment_id=10))
    for payload in (payloads.wall_reply_delete(GROUP, PEER, post_id=77, comment_id=10, secret=SECRET),
                    payloads.callback("group_join", {"user_id": PEER, "join_type": "join"}, GROUP, SECRET)):
        resp = hook(client, payload)
        assert resp.status_code == 200 and text_of(resp) == "ok"
    assert count(Message) == 1


def test_rate_limit_keeps_the_reply_pending_and_it_is_sent_later_once(client, account, fake_vk):
    fake_vk.fail(6, peer_id=PEER)  # "Too many requests per second"
    hook(client, dm("Нет отопления в квартире, ул. Мира, 3", cmid=3))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.attempts == 1 and "ошибка 6" in reply.last_error
    assert reply.next_attempt_at > utcnow() and fake_vk.messages == []

    later = utcnow() + timedelta(seconds=2)
    assert replies.deliver(reply.id, now=later) == "sent"
    assert replies.deliver(reply.id, now=later) == "sent"  # a second job: nothing sent
    assert len(fake_vk.messages) == 1

    # The worker died after VK took the message but before our commit: the retry carries the same
    # random_id, VK answers with the first message's id and nothing is posted twice.
    # It is left "sending" without the part recorded; the sweep retries it (VK dedupes), never «не подтверждена».
    reply.state, reply.external_id, reply.parts, reply.sending_at = "sending", None, [], later
    db.session.flush()
    assert replies.recover_stale(now=later + replies.sending_stale() * 2) == {"retried": 1, "unconfirmed": 0}
    assert replies.deliver(reply.id, now=later) == "sent"
    assert len(fake_vk.messages) == 1 and reply.external_id == str(fake_vk.messages[0]["id"])


def test_permanent_error_is_failed_with_the_reason_on_the_ticket_page(client, login, account, fake_vk):
    fake_vk.fail(901, peer_id=PEER, times=None)
    hook(client, dm("Нет воды на Кирова, 45", cmid=5))
    ticket = db.session.scalar(db.select(Ticket))
    reply = ticket.replies[0]
    assert reply.state == "failed" and reply.attempts == 1
    page = text_of(login(make_user("moderator")).get(f"/tickets/{ticket.number}"))
    assert "не доставлен" in page and "житель не разрешил сообществу присылать ему сообщения" in page
    assert "Can&#39;t send messages for users without permission" in page or \
        "Can't send messages for users without permission" in page


def test_topic_and_photo_comments_are_tickets_answered_by_hand(client, login, account, fake_vk):
    hook(client, payloads.board_post_new(GROUP, PEER, "Когда починят лифт на Ленина, 5?", topic_id=31,
                                         comment_id=4, secret=SECRET))
    hook(client, payloads.photo_comment_new(GROUP, PEER + 1, "На фото видно: труба течёт второй день",
                                            photo_id=457239100, comment_id=9, secret=SECRET))
    board, photo = db.session.scalars(db.select(Ticket).order_by(Ticket.id)).all()
    assert board.messages[0].permalink == f"https://vk.com/topic-{GROUP}_31?post=4"
    assert board.messages[0].thread_key == f"vk:board:-{GROUP}_31"
    assert photo.messages[0].permalink == f"https://vk.com/photo-{GROUP}_457239100"
    assert photo.messages[0].external_id == f"photo:-{GROUP}_457239100_9"
    assert [c for c in fake_vk.calls if c["method"] != "users.get"] == []  # nothing can be posted there
    assert board.replies[0].state == "failed" and "в обсуждении" in board.replies[0].last_error
    assert photo.replies[0].state == "failed" and "под фотографией" in photo.replies[0].last_error
    page = text_of(login(make_user("moderator")).get(f"/tickets/{board.number}"))
    assert "только ключ пользователя" in page


def test_attachments_keep_the_largest_photo_and_the_document(client, account):
    shot = payloads.photo(url="https://sun9-7.userapi.com/impg/big.jpg", owner_id=PEER, photo_id=55)
    act = payloads.doc(title="акт осмотра.pdf", url="https://vk.com/doc1_2?hash=abc", owner_id=PEER, doc_id=66)
    hook(client, dm("", cmid=9, attachments=[shot, act]))
    ticket = db.session.scalar(db.select(Ticket))
    assert ticket.summary == "[фото] [документ: акт осмотра.pdf]"
    assert ticket.messages[0].attachments == [
        {"kind": "photo", "file_id": f"photo{PEER}_55", "url": "https://sun9-7.userapi.com/impg/big.jpg"},
        {"kind": "document", "file_id": f"doc{PEER}_66", "name": "акт осмотра.pdf", "size": 48213,
         "url": "https://vk.com/doc1_2?hash=abc"},
    ]


def test_status_command_in_the_dialog_is_answered(client, account, fake_vk):
    hook(client, dm("Нет воды на Кирова, 45", cmid=1))
    ticket = db.session.scalar(db.select(Ticket))
    hook(client, dm(f"/status {ticket.number}", cmid=2))
    assert fake_vk.messages[-1]["message"] == f"Обращение № {ticket.number}: Новое."
    assert count(Ticket) == 1


def test_resident_and_time_come_from_the_event(client, account):
    hook(client, dm("Нет воды на Кирова, 45", cmid=1, date=1767250800))
    resident = db.session.scalar(db.select(Resident))
    message = db.session.scalar(db.select(Message))
    assert resident.network == "vk" and resident.external_id == str(PEER)
    assert message.received_at.isoformat() == "2026-01-01T07:00:00+00:00"
    assert message.raw["type"] == "message_new" and message.reply_address == {
        "type": "message", "peer_id": PEER, "message_id": 1}


def test_send_is_idempotent_and_the_network_is_off_without_a_token(vk_config, fake_vk):
    adapter = VkAdapter()
    out = OutgoingReply(network="vk", text="Ответ", address={"type": "message", "peer_id": PEER},
                        idempotency_key="reply-42")
    first, second = adapter.send(out, vk_config), adapter.send(out, vk_config)
    assert first.external_id == second.external_id and len(fake_vk.messages) == 1
    assert 0 < random_id("reply-42") < 2 ** 31 and random_id("reply-42") != random_id("reply-43")
    assert adapter.is_enabled(vk_config) and not adapter.is_enabled({"VK_ACCESS_TOKEN": None})


def test_vk_unreachable_keeps_the_reply_pending(client, account, vk_config, fake_vk):
    fake_vk.stop()  # nothing listens on that port any more
    hook(client, dm("Нет воды на Кирова, 45", cmid=1))
    reply = db.session.scalar(db.select(Reply))
    assert reply.state == "pending" and reply.next_attempt_at is not None and "недоступен" in reply.last_error
