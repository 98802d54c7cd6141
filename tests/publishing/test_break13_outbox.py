"""Breaking the publishing outbox (issue 13) where a copy is only partly out: «удалить везде» must reach what
the platform already holds of a copy that did not finish (a Telegram album whose text then failed), and say which
copies it cannot know about (unconfirmed). Fixed clock, in-memory network (tests/publishing/engine_support.py)."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Publication
from app.services.publishing import outbox
from app.services.publishing.networks import PublishError
from tests.factories import make_institution, make_user
from tests.publishing.engine_support import NOW, delivery_of, make_account, make_publication

LONG = "\n\n".join(f"Абзац {i}. " + "В субботу в школе пройдёт ярмарка, приходите всей семьёй. " * 8
                   for i in range(1, 5))  # > 1,024: the album goes first, the text as a message of its own


@pytest.fixture
def smm():
    return make_user("smm", institution=make_institution())


def released(pub):
    outbox.release(pub, now=NOW)
    db.session.commit()
    return pub


def fresh(pub) -> Publication:
    return db.session.get(Publication, pub.id, populate_existing=True)


@pytest.mark.parametrize("then", [PublishError("Telegram: бот больше не админ канала.", "no_rights"),
                                  PublishError("Telegram: 502", "unavailable")])
def test_delete_everywhere_deletes_the_album_of_a_copy_whose_text_did_not_go(smm, fakenet, outbox_jobs, pub_clock,
                                                                           upload_dir, then):
    tg, vk = make_account(smm.institution, "telegram"), make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [tg, vk], text=LONG, photos=2, upload_dir=upload_dir))
    fakenet.then(tg, "ok", then)
    outbox.publish_due(pub.id, now=NOW)
    row = delivery_of(pub, tg)
    assert row.state in ("failed", "scheduled") and len(row.parts) == 1  # the album is on the channel
    album = row.parts[0]
    pub = fresh(pub)
    pub.state = "done"  # the author sees it published (VK) and deletes it everywhere
    db.session.commit()
    results = outbox.apply_delete(fresh(pub))
    assert results[row.id] is None
    assert (tg.id, [album]) in [(d[1], d[2]) for d in fakenet.deletes]  # the album does not stay on the channel
    assert delivery_of(pub, tg).state == "deleted" and delivery_of(pub, vk).state == "deleted"
    assert outbox.publish_due(pub.id, now=NOW.replace(hour=5)) == {}


def test_delete_everywhere_says_which_unconfirmed_copy_it_cannot_know_about(smm, fakenet, outbox_jobs, pub_clock):
    tg, vk = make_account(smm.institution, "telegram"), make_account(smm.institution, "vk")
    pub = released(make_publication(smm, [tg, vk]))
    fakenet.then(tg, "accept_then_raise")  # Telegram took it, the answer was lost
    outbox.publish_due(pub.id, now=NOW)
    row = delivery_of(pub, tg)
    assert row.state == "unconfirmed" and not row.parts
    results = outbox.apply_delete(fresh(pub))
    assert results[row.id] and "вручную" in results[row.id] and tg.title in results[row.id]
    assert delivery_of(pub, tg).change_error == results[row.id]
    assert delivery_of(pub, vk).state == "deleted"
