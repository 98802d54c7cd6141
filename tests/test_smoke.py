from tests.factories import make_ticket, make_user


def test_moderator_sees_ticket_in_queue(login):
    t = make_ticket("Яма на дороге у школы № 3")
    client = login(make_user("moderator"))
    resp = client.get("/queue")
    assert resp.status_code == 200
    assert t.number in resp.get_data(as_text=True)
