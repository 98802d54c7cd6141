"""Issue 12's «Done when», end to end: a resident without a login opens /participants, finds a participant by
its direction, opens its page (accounts, current subscribers, the growth chart); the city's past figures come in
by `flask accounts import-history`, then `flask accounts collect` (the CLI) asks the fakes, and the figures it
recorded are THEN on the directory, on the participant's page and in /api/v1/participants — the same values."""
from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.models import Account, Direction, Institution
from app.services import directory
from tests.accounts.test_collection import uploads  # noqa: F401

FIGURES = {"vk": (4200001, 12345), "telegram": (-1004200001, 2377), "ok": (70000004200001, 801),
           "max": (-74200001, 64)}


def test_a_resident_sees_the_figures_the_cli_collected(app, client, nets, tmp_path):
    culture = Direction(code="e2e-culture", name="Е2Е Культура", sort_order=1)
    sport = Direction(code="e2e-sport", name="Е2Е Спорт", sort_order=2)
    museum = Institution(direction=culture, name="Краеведческий музей им. Е2Е", short_name="Музей Е2Е",
                         slug="e2e-museum")
    stadium = Institution(direction=sport, name="Стадион Е2Е", short_name="Стадион Е2Е", slug="e2e-stadium")
    db.session.add_all([culture, sport, museum, stadium])
    db.session.flush()
    accounts = {}
    for net, (ext, followers) in FIGURES.items():
        title = f"Музей в {net}"
        if net == "vk":
            nets.vk.add_group(ext, title, screen_name="e2e_museum", members=followers, posts=300)
        elif net == "telegram":
            nets.telegram.add_channel(ext, title, "e2e_museum", members=followers)
        elif net == "ok":
            nets.ok.add_group(ext, title, "e2e_museum", members=followers, themes=40)
        else:
            nets.max.add_chat(ext, title, "e2e_museum", members=followers)
        accounts[net] = Account(institution=museum, network=net, handle="e2e_museum", external_id=str(ext),
                                url={"vk": "https://vk.com/e2e_museum", "telegram": "https://t.me/e2e_museum",
                                     "ok": "https://ok.ru/e2e_museum", "max": "https://max.ru/e2e_museum"}[net],
                                title=title)
    db.session.add_all(accounts.values())
    db.session.commit()

    # Before anything is collected: the participant is there, with no history yet.
    page = client.get("/participants?direction=e2e-culture").get_data(as_text=True)
    assert "Музей Е2Е" in page and "Стадион Е2Е" not in page

    today = directory.city_today()
    history = tmp_path / "history.csv"
    history.write_text("date;address;subscribers;posts\n" + "".join(
        f"{(today - timedelta(days=d)).isoformat()};https://vk.com/e2e_museum;{12000 - d * 10};{280 - d}\n"
        for d in range(1, 40)), encoding="utf-8")
    cli = app.test_cli_runner()
    result = cli.invoke(args=["accounts", "import-history", str(history)])
    assert result.exit_code == 0, result.output
    result = cli.invoke(args=["accounts", "collect"])
    assert result.exit_code == 0, result.output
    assert "Собрано: 4 из 4" in result.output, result.output

    db.session.expire_all()
    collected = {net: db.session.get(Account, acc.id) for net, acc in accounts.items()}
    for net, acc in collected.items():
        assert acc.collect_error is None and acc.followers >= FIGURES[net][1], (net, acc.collect_error)

    # The directory, by direction, shows each account's current subscribers.
    page = client.get("/participants?direction=e2e-culture").get_data(as_text=True)
    for acc in collected.values():
        assert directory.thousands(acc.followers) in page, acc.network
    # The participant's page: the accounts with their subscribers, the growth chart (imported + collected days).
    show = client.get("/participants/e2e-museum")
    assert show.status_code == 200
    body = show.get_data(as_text=True)
    for acc in collected.values():
        assert directory.thousands(acc.followers) in body and acc.url in body
    assert "<svg" in body and "Истории ещё нет" not in body
    total = sum(a.followers for a in collected.values())
    assert directory.thousands(total) in body
    # The open API: the same values.
    api = client.get("/api/v1/participants?direction=e2e-culture").get_json()
    [item] = api["participants"]
    assert item["slug"] == "e2e-museum"
    got = {a["url"]: a["followers"] for a in item["accounts"]}
    assert got == {acc.url: acc.followers for acc in collected.values()}
    one = client.get("/api/v1/participants/e2e-museum").get_json()
    assert {a["url"]: a["followers"] for a in one["accounts"]} == got
    snaps = client.get(f"/api/v1/accounts/{collected['vk'].id}/snapshots").get_json()["snapshots"]
    assert snaps[-1]["followers"] == collected["vk"].followers and len(snaps) == 40
