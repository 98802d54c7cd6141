"""Seams between issue 10 (values of any length, commands that are text, edits, bursts, normalised text rules,
merged tickets, the outbox) and issue 17 (every content type of every network): each built in parallel, tested
here together, through the real webhooks and the platforms' fakes, on PostgreSQL.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.fakes import telegram as updates
from app.fakes import vk as vk_payloads
from app.models import Message, Reply, Resident
from app.services import tickets
from tests.factories import make_user
from tests.test_intake_rules import (  # noqa: F401 (merged: the same fixture)
    TG_USER,
    VK_USER,
    all_tickets,
    merged,
    only_ticket,
    resolve,
    tg,
    tg_texts,
    vk,
    vk_dm,
    vk_texts,
)
from tests.vk_support import GROUP
from tests.vk_support import SECRET as VK_SECRET

LAT, LON = 50.921234, 128.473456
GROUP_CHAT, CHANNEL = -1001987654321, -1001122334455


def tg_forward(user_id, text, message_id):
    update = updates.private_message(user_id, text, message_id=message_id)
    update["message"]["forward_origin"] = {"type": "user", "date": update["message"]["date"] - 60,
                                           "sender_user": {"id": 700100200, "is_bot": False, "first_name": "Сосед"}}
    return update


# --- commands with content ------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["/status", "/start", "/help"])
def test_a_command_with_a_location_keeps_the_place(client, vk_account, fake_vk, command):
    """VK lets a resident attach a point to any text: «/status» with a location is still a place sent."""
    vk(client, vk_dm(command, cmid=1, geo=vk_payloads.geo(LAT, LON, "ул. Кирова, 35")))
    ticket = only_ticket()
    assert (ticket.latitude, ticket.longitude) == (LAT, LON)
    assert ticket.summary == "[геометка: ул. Кирова, 35]"


def test_status_of_own_ticket_with_a_photo_adds_the_photo_to_it(client, vk_account, fake_vk):
    vk(client, vk_dm("Яма у дома 5 по ул. Ленина", cmid=1))
    ticket = only_ticket()
    vk(client, vk_dm(f"/status {ticket.number}", cmid=2, attachments=[vk_payloads.photo()]))
    assert only_ticket() == ticket
    db.session.refresh(ticket)
    assert len(ticket.messages) == 2 and "Новое" in vk_texts(fake_vk)[-1]


# --- bursts whose text is forwarded or whose first item is a place ----------------------------------
def test_a_burst_whose_text_is_forwarded_takes_summary_and_route_from_it(client, tg_config, fake_tg, burst, lamps):
    tg(client, updates.photo_message(TG_USER, None, message_id=1))
    tg(client, tg_forward(TG_USER, "Не горят фонари на ул. Лесная, 7", message_id=2))
    ticket = only_ticket()
    assert ticket.summary == "Переслано: Не горят фонари на ул. Лесная, 7" and ticket.category_id == lamps.id


def test_a_burst_opened_by_a_location_takes_its_text_and_keeps_its_place(client, tg_config, fake_tg, burst, lamps):
    tg(client, updates.private_message(TG_USER, None, message_id=1, extra=updates.location(LAT, LON)))
    tg(client, updates.private_message(TG_USER, "Не горят фонари вот здесь", message_id=2))
    ticket = only_ticket()
    assert ticket.summary == "Не горят фонари вот здесь" and ticket.category_id == lamps.id
    assert (ticket.latitude, ticket.longitude) == (LAT, LON)


def test_vk_forwarded_messages_of_any_length_are_stored_whole(client, vk_account, fake_vk):
    long = "В подъезде не работает лифт. " * 400  # 11 600 characters, twice
    vk(client, vk_dm("", cmid=1, fwd_messages=[vk_payloads.forwarded(700100200, long),
                                               vk_payloads.forwarded(700100201, long)]))
    ticket = only_ticket()
    [message] = ticket.messages
    assert message.text.count("Переслано: В подъезде не работает лифт.") == 2
    assert ticket.summary.startswith("Переслано: В подъезде не работает лифт.")


# --- resolved tickets --------------------------------------------------------------------------------
def test_thanks_forwarded_after_resolution_does_not_reopen(client, tg_config, fake_tg):
    tg(client, updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=1))
    ticket = resolve(only_ticket())
    tg(client, updates.private_message(TG_USER, "Спасибо ❤️", message_id=2))
    tg(client, updates.private_message(TG_USER, None, message_id=3, extra={"sticker": {
        "file_id": "CAACAgIAAxkBAAIB", "file_unique_id": "AgADsw", "type": "regular", "width": 512, "height": 512,
        "is_animated": False, "is_video": False, "emoji": "❤️"}}))
    db.session.refresh(ticket)
    assert ticket.status == "resolved" and ticket.reopen_count == 0


# --- merged tickets and the other content types --------------------------------------------------------
def test_a_contact_card_shared_by_a_merged_ticket_resident_joins_the_main_ticket(client, merged, fake_tg):
    x, y, mod = merged
    tg(client, updates.private_message(TG_USER, None, message_id=2, extra=updates.contact(
        "+7 914 555-12-34", "Ольга", "Кузнецова", user_id=TG_USER)))
    assert len(all_tickets()) == 2
    db.session.refresh(y)
    assert any(m.attachments and m.attachments[0]["kind"] == "contact" for m in y.messages)
    resident = db.session.scalar(db.select(Resident).where(Resident.external_id == str(TG_USER)))
    assert resident.phone == "+7 914 555-12-34"


def test_a_location_from_a_merged_ticket_resident_becomes_the_main_tickets_place(client, merged, fake_tg):
    x, y, mod = merged
    tg(client, updates.private_message(TG_USER, None, message_id=2, extra=updates.location(LAT, LON)))
    db.session.refresh(y)
    assert (y.latitude, y.longitude) == (LAT, LON)


def test_a_long_answer_reaches_every_resident_of_a_merged_ticket_in_parts(client, merged, fake_tg, fake_vk):
    x, y, mod = merged
    text = "Электрик придёт завтра. " * 400  # 9 600 characters: three parts on each network
    tickets.public_reply(y, mod, text)
    db.session.commit()
    vk_parts = [m for m in fake_vk.messages if int(m["peer_id"]) == VK_USER and "Электрик" in m["message"]]
    tg_parts = [m for m in fake_tg.messages_to(TG_USER) if "Электрик" in m["text"]]
    assert len(vk_parts) == 3 and len(tg_parts) == 3
    assert len({m["random_id"] for m in vk_parts}) == 3
    rows = db.session.scalars(db.select(Reply).where(Reply.kind == "staff")).all()
    assert sorted(r.network for r in rows) == ["telegram", "vk"] and all(r.state == "sent" for r in rows)
    assert all(len(r.parts) == 3 for r in rows)


def test_a_merged_ticket_resident_writing_in_a_comment_thread_is_answered_there(client, tg_config, fake_tg, vk_account,
                                                                             fake_vk):
    from tests.factories import make_account, make_institution

    acc = make_account(make_institution(name="МУП «Водоканал» г. Белогорск"), network="telegram")
    acc.external_id = str(CHANNEL)
    db.session.flush()
    tg(client, updates.comment(GROUP_CHAT, CHANNEL, TG_USER, "Нет света в подъезде дома ул. Слияния, 1",
                               message_id=71))
    vk(client, vk_dm("Нет света в подъезде дома ул. Слияния, 1", cmid=1))
    x, y = all_tickets()
    tickets.merge(x, y, make_user("moderator"))
    db.session.commit()
    first = updates.comment(GROUP_CHAT, CHANNEL, TG_USER, "Нет света", message_id=71)
    tg(client, updates.comment(GROUP_CHAT, CHANNEL, TG_USER, "Света всё ещё нет", message_id=72, reply_to=first))
    assert len(all_tickets()) == 2
    db.session.refresh(y)
    assert any(m.text == "Света всё ещё нет" for m in y.messages)
    tickets.public_reply(y, make_user("moderator"), "Электрик придёт завтра")
    db.session.commit()
    sent = [m for m in fake_tg.messages_to(GROUP_CHAT) if "Электрик" in m["text"]]
    assert len(sent) == 1 and sent[0].get("message_thread_id") == 70


def test_a_group_chat_message_is_never_a_follow_up_of_a_merged_ticket(client, merged, fake_tg):
    x, y, mod = merged
    general = updates.private_message(TG_USER, "Ок", message_id=5)
    general["message"]["chat"] = updates.group_chat(GROUP_CHAT)
    general["message"]["message_thread_id"] = 4
    general["message"]["reply_to_message"] = {"message_id": 4, "from": updates.user(TG_USER + 1),
                                              "chat": updates.group_chat(GROUP_CHAT), "date": 1, "text": "Привет"}
    tg(client, general)
    assert db.session.scalar(db.select(db.func.count(Message.id)).where(Message.external_id.like(f"{GROUP_CHAT}:%"))) == 0


# --- edits ----------------------------------------------------------------------------------------
def test_an_edit_of_a_photo_caption_in_a_burst_routes_the_ticket(client, tg_config, fake_tg, burst, lamps):
    first = updates.photo_message(TG_USER, None, message_id=1)
    tg(client, first)
    tg(client, updates.edited(first, "Не горят фонари на ул. Лесная, 7"))
    ticket = only_ticket()
    assert ticket.summary == "Не горят фонари на ул. Лесная, 7" and ticket.category_id == lamps.id


# --- the ticket page with every content kind -----------------------------------------------------------
def test_the_ticket_page_opens_with_a_place_a_contact_and_a_forward(client, login, tg_config, fake_tg):
    tg(client, updates.private_message(TG_USER, None, message_id=1, extra=updates.venue(
        LAT, LON, "Открытый люк", "ул. Кирова, 35")))
    tg(client, updates.private_message(TG_USER, None, message_id=2, extra=updates.contact("+79145551234", "Иван")))
    tg(client, tg_forward(TG_USER, "В подъезде не работает лифт", message_id=3))
    ticket = only_ticket()
    page = login(make_user("moderator")).get(f"/tickets/{ticket.number}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Открытый люк" in body and "Переслано: В подъезде не работает лифт" in body
    # the venue's message by its content: the three arrive within one moment, so received_at may tie
    venue = next(m for m in ticket.messages if any(a.get("kind") == "location" for a in m.attachments or []))
    for i in range(2):
        resp = client.get(f"/tickets/{ticket.number}/files/{venue.id}/{i}")
        assert resp.status_code in (302, 404)


def test_a_shared_link_to_another_site_keeps_its_address_for_staff(client, login, vk_account, fake_vk):
    link = {"type": "link", "link": {"url": "https://www.gosuslugi.ru/600101/1/form", "title": "Госуслуги",
                                     "description": "Подать заявление", "caption": "gosuslugi.ru"}}
    vk(client, vk_dm("Вот где я подавала заявление", cmid=1, attachments=[link]))
    [message] = only_ticket().messages
    [item] = message.attachments
    assert "gosuslugi.ru/600101/1/form" in " ".join(str(v) for k, v in item.items() if k != "file_id")
    assert "url" not in item  # never followed: not a network's own host
    page = login(make_user("moderator")).get(f"/tickets/{only_ticket().number}").get_data(as_text=True)
    assert "https://www.gosuslugi.ru/600101/1/form" in page and 'href="https://www.gosuslugi.ru' not in page


def test_a_file_of_a_ticket_merged_through_a_chain_opens_from_the_main_ticket(client, login, tg_config, fake_tg,
                                                                             vk_account, fake_vk):
    tg(client, updates.private_message(TG_USER, None, message_id=1, extra=updates.location(LAT, LON)))
    vk(client, vk_dm("Нет света в подъезде дома ул. Слияния, 1", cmid=1))
    tg(client, updates.private_message(TG_USER + 5, "Нет света в подъезде дома ул. Слияния, 1", message_id=1))
    x, y, z = all_tickets()
    mod = make_user("moderator")
    tickets.merge(x, y, mod)
    tickets.merge(y, z, mod)
    db.session.commit()
    [place] = x.messages
    page = login(mod).get(f"/tickets/{z.number}").get_data(as_text=True)
    assert f"/files/{place.id}/0" in page  # the timeline of Z shows X's place with its link
    assert client.get(f"/tickets/{z.number}/files/{place.id}/0").status_code == 302


# --- commands edited, forwarded, in captions ------------------------------------------------------------
def test_an_edited_status_command_is_no_appeal(client, tg_config, fake_tg):
    tg(client, updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=1))
    ticket = only_ticket()
    command = updates.private_message(TG_USER, "/status БЛГ-2026-000999", message_id=2)
    tg(client, command)
    tg(client, updates.edited(command, f"/status {ticket.number}"))
    assert all_tickets() == [ticket]  # no ticket «БЛГ-2026-…» made of the corrected number
    db.session.refresh(ticket)
    assert len(ticket.messages) == 1
    assert ticket.number in tg_texts(fake_tg)[-1] and "Новое" in tg_texts(fake_tg)[-1]  # the correction is answered


@pytest.mark.parametrize("network", ["telegram", "vk"])
def test_a_status_command_edited_into_a_complaint_is_an_appeal(client, tg_config, fake_tg, vk_account, fake_vk,
                                                               network):
    if network == "telegram":
        command = updates.private_message(TG_USER, "/status", message_id=2)
        tg(client, command)
        tg(client, updates.edited(command, "/status не пришёл ответ по яме у дома 5 по ул. Ленина"))
    else:
        vk(client, vk_dm("/status", cmid=2))
        vk(client, vk_payloads.message_edit(GROUP, VK_USER, "/status не пришёл ответ по яме у дома 5 по ул. Ленина",
                                            conversation_message_id=2, secret=VK_SECRET))
    assert only_ticket().summary == "не пришёл ответ по яме у дома 5 по ул. Ленина"


@pytest.mark.parametrize("network", ["telegram", "vk"])
def test_status_as_a_photo_caption_is_answered_and_the_photo_joins_the_ticket(client, tg_config, fake_tg, vk_account,
                                                                             fake_vk, network):
    """One rule on every network: «/status <number>» written with a photo answers the status and the photo joins
    the resident's ticket (Telegram carries the words as the photo's caption, VK as the message's text)."""
    if network == "telegram":
        tg(client, updates.private_message(TG_USER, "Яма у дома 5 по ул. Ленина", message_id=1))
        ticket = only_ticket()
        tg(client, updates.photo_message(TG_USER, f"/status {ticket.number}", message_id=2))
        answer = tg_texts(fake_tg)[-1]
    else:
        vk(client, vk_dm("Яма у дома 5 по ул. Ленина", cmid=1))
        ticket = only_ticket()
        vk(client, vk_dm(f"/status {ticket.number}", cmid=2, attachments=[vk_payloads.photo()]))
        answer = vk_texts(fake_vk)[-1]
    assert all_tickets() == [ticket] and ticket.number in answer and "Новое" in answer
    db.session.refresh(ticket)
    assert len(ticket.messages) == 2 and ticket.summary == "Яма у дома 5 по ул. Ленина"
