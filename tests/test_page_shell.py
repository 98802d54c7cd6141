"""The page shell every staff page shares (issue 16): the top bar's unread count, read with the user in one
statement, still follows new notifications and reads; the top bar's links, kept per rights and language, are each
viewer's own; a deactivated user's next page still ends the session."""
import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import Notification, utcnow
from app.services import notifications
from tests.factories import make_ticket, make_user
from tests.test_i18n import english_interface

COUNT = '<b class="count">'


@pytest.fixture(autouse=True)
def _cold_shell(app):
    """Each test starts with nothing kept: the kept shell lives on the catalogue objects, dropped with them."""
    app.extensions["babel"].instance.domain_instance.cache.clear()


def _count(page: str) -> int | None:
    if COUNT not in page:
        return None
    return int(page.split(COUNT, 1)[1].split("<", 1)[0])


def _note(user, text="x"):
    db.session.add(Notification(user_id=user.id, kind="resolution_breach", text=text))


def test_the_top_bar_count_follows_new_notifications_and_a_read(login):
    user = make_user("moderator")
    make_ticket("Яма")
    client = login(user)
    assert _count(client.get("/queue").get_data(as_text=True)) is None
    _note(user)
    db.session.commit()
    assert _count(client.get("/queue").get_data(as_text=True)) == 1
    _note(user)
    _note(make_user("moderator"))  # someone else's: not counted
    db.session.commit()
    assert _count(client.get("/notifications").get_data(as_text=True)) == 2
    assert client.post("/notifications/read").status_code == 302
    assert _count(client.get("/notifications").get_data(as_text=True)) is None
    _note(user)
    db.session.commit()
    assert _count(client.get("/account/password").get_data(as_text=True)) == 1


def test_the_count_read_with_the_user_is_asked_again_after_a_write_in_the_same_request(app):
    user = make_user("moderator")
    db.session.commit()
    with app.test_request_context("/"):
        assert notifications.load_user_with_unread(user.id) is user
        assert notifications.unread_count(user) == 0
        _note(user)
        db.session.flush()  # an insert through the ORM
        assert notifications.unread_count(user) == 1
        db.session.execute(update(Notification).where(Notification.user_id == user.id).values(read_at=utcnow()))
        assert notifications.unread_count(user) == 0  # a bulk UPDATE statement
        _note(user)
        db.session.commit()
        notifications.load_user_with_unread(user.id)
        assert notifications.unread_count(user) == 1
        assert notifications.unread_count(make_user("moderator")) == 0  # another user: never the kept count
    assert notifications.load_user_with_unread(10**9) is None


RIGHTS = {
    "admin": (["Администрирование", "Очередь", "Рейтинг", "Не обращения"], ["Мои обращения"]),
    "executor": (["Мои обращения", "Поручения", "№ обращения"], ["Очередь", "Администрирование", "Рейтинг"]),
    "moderator": (["Очередь", "Не обращения", "Проблемные вопросы"], ["Мои обращения", "Администрирование"]),
    "press": (["Публикации", "Рейтинг", "Участники"], ["Очередь", "№ обращения", "Мои обращения"]),
}


def test_each_viewer_gets_the_links_of_their_own_rights(login):
    """Viewers with other rights take turns on one process: no one is shown another's kept links."""
    users = {role: make_user(role) for role in RIGHTS}
    for role in ("admin", "executor", "admin", "moderator", "press", "executor", "moderator"):
        page = login(users[role]).get("/account/password").get_data(as_text=True)
        top = page.split('<div class="me">', 1)[0]
        shown, hidden = RIGHTS[role]
        assert all(f">{text}<" in top or f'"{text}"' in top for text in shown), (role, top)
        assert not any(f">{text}<" in top or f'"{text}"' in top for text in hidden), (role, top)
        assert f"{users[role].display_name} · {LABEL[role]}</span>" in page


LABEL = {"admin": "Администратор", "executor": "Исполнитель", "moderator": "Модератор", "press": "Пресс-служба"}


def test_the_kept_links_follow_the_language(app, login):
    client = login(make_user("moderator"))
    assert ">Очередь<" in client.get("/account/password").get_data(as_text=True)
    with english_interface(app):
        page = client.get("/account/password").get_data(as_text=True)
        assert ">Queue<" in page and ">Очередь<" not in page and "Moderator</span>" in page
    assert ">Очередь<" in client.get("/account/password").get_data(as_text=True)


def test_an_anonymous_visitor_gets_the_public_links(app, login):
    login(make_user("admin")).get("/account/password")
    page = app.test_client().get("/participants").get_data(as_text=True)
    assert "Участники проекта" in page and "Администрирование" not in page and 'class="me"' not in page


def test_a_deactivated_users_next_page_ends_the_session(login):
    user = make_user("moderator")
    client = login(user)
    assert client.get("/queue").status_code == 200
    user.is_active_user = False
    db.session.commit()
    resp = client.get("/queue")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_an_embedded_page_leaves_no_embedded_link_in_the_header_of_the_next(app):
    """The public pages' links stay inside the city site's frame (`?embed=1`); the app's own header never does."""
    client = app.test_client()
    framed = client.get("/appeal?embed=1").get_data(as_text=True)
    assert 'class="topbar"' not in framed
    page = client.get("/appeal").get_data(as_text=True)
    brand = page.split('class="brand" href="', 1)[1].split('"', 1)[0]
    assert "embed" not in brand
