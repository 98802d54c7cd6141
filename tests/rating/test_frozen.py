"""Frozen ratings, «к поощрению» marks and the XLSX, clearances of «проверить накрутку» (issue 14, item 4)."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.extensions import db
from app.jobs import resolve, schedule
from app.models import AccountSnapshot, Post, RatingSnapshot, RatingSnapshotRow
from app.services import access, rating
from app.services.board.periods import Period
from app.services.rating import frozen
from tests.factories import make_direction, make_user
from tests.rating.test_composite import NOV, TZ, _ext, at, daily, participant

DEC_1 = datetime(2026, 12, 1, 0, 30, tzinfo=TZ)  # city time: November has closed
NOV_30 = datetime(2026, 11, 30, 23, 30, tzinfo=TZ)  # still November


def direction_of_three():
    d = make_direction()
    a = participant(d, 1000, 1200, 10)
    b = participant(d, 500, 520, 6)
    c = participant(d, 300, 300, 4)
    return d, (a, b, c)


def stored(snap) -> list[dict]:
    return [{"institution_id": r.institution_id, "place": r.place, "score": r.score, "flags": r.flags,
             "ranks": r.ranks, "figures": r.figures} for r in frozen.frozen_rows(snap)]


def test_freeze_keeps_the_numbers_after_snapshots_and_posts_change():
    d, (a, b, c) = direction_of_three()
    live = rating.composite_for_direction(d.id, NOV, date(2026, 12, 1), DEC_1)
    snap = frozen.freeze("month", date(2026, 11, 1), d.id, DEC_1)
    assert (snap.kind, snap.start, snap.end, snap.direction_id) == ("month", date(2026, 11, 1), date(2026, 11, 30),
                                                                    d.id)
    kept = stored(snap)
    assert [(k["institution_id"], k["place"], k["score"], k["flags"], k["ranks"]) for k in kept] == \
        [(r.institution_id, r.place, r.score, sorted(r.flags), r.ranks) for r in live.rows]  # the rating then
    assert [k["figures"]["of"] for k in kept] == [r.of for r in live.rows]
    for k, r in zip(kept, live.rows, strict=True):
        assert {n: k["figures"][n] for n in frozen.FIGURE_FIELDS} == \
            pytest.approx({n: getattr(r.figures, n) for n in frozen.FIGURE_FIELDS})
    assert kept[0]["institution_id"] == a.id and kept[0]["place"] == 1
    assert kept[0]["figures"]["audience_end"] == 1200 and kept[0]["figures"]["posts"] == 10
    # later: c's audience jumps at the end of November and it posts a lot — the live rating changes …
    acc_c = db.session.scalar(select(AccountSnapshot.account_id).join(AccountSnapshot.account)
                              .where(AccountSnapshot.account.has(institution_id=c.id)).limit(1))
    db.session.execute(AccountSnapshot.__table__.update().where(AccountSnapshot.account_id == acc_c,
                                                                AccountSnapshot.taken_on == date(2026, 11, 30))
                       .values(followers=90_000))
    for k in range(20):
        db.session.add(Post(account_id=acc_c, external_id=f"f{next(_ext)}", published_at=at(date(2026, 11, 5 + k)),
                            views=50_000, reactions=900, comments=0, reposts=0))
    db.session.flush()
    db.session.expire_all()
    frozen_live = frozen.frozen_or_live(d.id, NOV, DEC_1)
    assert frozen_live["frozen"] is True
    assert [{k: r[k] for k in ("institution_id", "place", "score", "flags", "ranks", "figures")}
            for r in frozen_live["rows"]] == kept  # … the frozen one does not
    relive = rating.composite_for_direction(d.id, NOV, date(2026, 12, 1), DEC_1)
    assert relive.rows[0].institution_id == c.id and frozen_live["rows"][0]["institution_id"] == a.id
    # a period that is not a whole frozen one is computed now
    part = frozen.frozen_or_live(d.id, Period("month", date(2026, 11, 1), date(2026, 11, 20)), DEC_1)
    assert part["frozen"] is False


def test_freeze_is_idempotent():
    d, _ = direction_of_three()
    first = frozen.freeze("month", date(2026, 11, 1), d.id, DEC_1)
    rows = stored(first)
    participant(d, 5000, 9000, 30)  # a new participant appears afterwards
    second = frozen.freeze("month", date(2026, 11, 17), d.id, datetime(2026, 12, 5, 12, tzinfo=TZ))
    assert second.id == first.id and second.frozen_at == first.frozen_at
    assert stored(second) == rows
    assert db.session.scalar(select(func.count()).select_from(RatingSnapshot)
                             .where(RatingSnapshot.direction_id == d.id)) == 1


def test_an_open_period_is_not_frozen():
    d, _ = direction_of_three()
    with pytest.raises(frozen.RatingError):
        frozen.freeze("month", date(2026, 11, 1), d.id, NOV_30)
    with pytest.raises(frozen.RatingError):
        frozen.freeze("week", date(2026, 11, 2), d.id, DEC_1)


def test_freeze_closed_freezes_only_closed_periods():
    d, _ = direction_of_three()
    e = make_direction()

    def frozen_periods():
        return set(db.session.execute(select(RatingSnapshot.direction_id, RatingSnapshot.kind, RatingSnapshot.start)
                                      .where(RatingSnapshot.direction_id.in_([d.id, e.id]))))

    frozen.freeze_closed(NOV_30)  # 30 November 23:30 in Якутск: November runs on
    before = frozen_periods()
    for dd in (d.id, e.id):
        assert {(dd, "month", date(2026, 10, 1)), (dd, "quarter", date(2026, 7, 1)),
                (dd, "year", date(2025, 1, 1))} <= before
        assert (dd, "month", date(2026, 11, 1)) not in before
    frozen.freeze_closed(DEC_1)  # 1 December 00:30 city time (30 November 15:30 UTC): November closed
    after = frozen_periods()
    assert after - before == {(d.id, "month", date(2026, 11, 1)), (e.id, "month", date(2026, 11, 1))}
    frozen.freeze_closed(DEC_1)  # a second run adds nothing
    assert frozen_periods() == after
    nov = db.session.scalar(select(RatingSnapshot).where(RatingSnapshot.direction_id == d.id,
                                                         RatingSnapshot.kind == "month",
                                                         RatingSnapshot.start == date(2026, 11, 1)))
    assert len(stored(nov)) == 3


def test_the_job_is_registered_daily():
    job = [p for p in schedule.PERIODIC if p.path == "app.jobs.rating.freeze_closed"]
    assert len(job) == 1 and job[0].every == 24 * 3600
    assert callable(resolve(job[0].path))


def test_marks_by_the_head_only_and_the_xlsx_equals_the_frozen_rows():
    d, (a, b, c) = direction_of_three()
    head = make_user("head")
    for role in ("admin", "press", "analyst", "moderator", "smm", "executor"):
        user = make_user(role)
        assert not access.can_mark_encouragement(user)
        with pytest.raises(PermissionError):
            frozen.mark(user, a.id, NOV, "нет", DEC_1)
        with pytest.raises(PermissionError):
            frozen.unmark(user, a.id, NOV)
    with pytest.raises(PermissionError):
        frozen.mark(None, a.id, NOV, "", DEC_1)
    assert access.can_mark_encouragement(head)
    with pytest.raises(frozen.RatingError):
        frozen.mark(head, a.id, NOV, "", NOV_30)  # November still runs on
    with pytest.raises(frozen.RatingError):
        frozen.mark(head, 10**9, NOV, "", DEC_1)
    frozen.mark(head, b.id, NOV, "Рост аудитории", DEC_1)
    frozen.mark(head, a.id, NOV, "Лучшие за ноябрь", DEC_1)
    frozen.mark(head, a.id, NOV, "Лучшие за ноябрь, грамота", DEC_1)  # again: the note replaced
    frozen.mark(head, c.id, NOV, "", DEC_1)
    assert frozen.unmark(head, c.id, NOV) and not frozen.unmark(head, c.id, NOV)
    got = frozen.marks(NOV)
    assert [(m.institution_id, m.note) for m in got] == [(a.id, "Лучшие за ноябрь, грамота"),
                                                         (b.id, "Рост аудитории")]
    snap = db.session.get(RatingSnapshot, got[0].snapshot_id)
    rows = {r.institution_id: r for r in db.session.scalars(select(RatingSnapshotRow)
                                                           .where(RatingSnapshotRow.snapshot_id == snap.id))}
    ws = load_workbook(io.BytesIO(frozen.marked_export(NOV))).active
    cells = [list(r) for r in ws.iter_rows(values_only=True)]
    assert cells[0] == frozen.EXPORT_HEADER and cells[0][:4] == ["Участник", "Направление", "Место", "Балл"]
    assert len(cells) == 3
    n_fig = len(frozen.FIGURE_FIELDS)
    for line, inst, note in ((cells[1], a, "Лучшие за ноябрь, грамота"), (cells[2], b, "Рост аудитории")):
        row = rows[inst.id]
        assert line[0] == inst.name and line[1] == d.name
        assert line[2] == row.place and line[3] == pytest.approx(round(row.score, 2))
        assert line[4:4 + n_fig] == pytest.approx([row.figures[k] for k in frozen.FIGURE_FIELDS])
        assert line[4 + n_fig:4 + n_fig + len(rating.RANKED)] == pytest.approx([row.ranks.get(k) for k in rating.RANKED])
        assert line[-3] == note and line[-2] == head.display_name


def test_a_cleared_jump_is_no_longer_flagged_and_growth_ranked_again():
    d = make_direction()
    cheat = participant(d, 0, 0, 8, daily=daily(2000, {date(2026, 11, 12): 2000}))
    steady = participant(d, 0, 0, 8, daily=daily(1000, {date(2026, 11, 5 + k): 30 for k in range(10)}))
    jumps = rating.implausible_jumps([cheat.id, steady.id], NOV)
    (account_id, day, _b, _a), = jumps[cheat.id]
    with pytest.raises(PermissionError):
        frozen.clear_jump(make_user("analyst"), account_id, day, "")
    with pytest.raises(frozen.RatingError):
        frozen.clear_jump(make_user("head"), 10**9, day, "")
    frozen.clear_jump(make_user("press"), account_id, day, "Розыгрыш в сообществе, проверено")
    again = frozen.clear_jump(make_user("head"), account_id, day, "ещё раз")
    assert again.note == "Розыгрыш в сообществе, проверено"  # the first clearance kept
    assert rating.implausible_jumps([cheat.id, steady.id], NOV) == {}
    by = {r.institution_id: r for r in rating.composite_for_direction(d.id, NOV, date(2026, 11, 30)).rows}
    assert rating.CHECK_GROWTH not in by[cheat.id].flags
    assert "growth" in by[cheat.id].used and by[cheat.id].ranks["growth"] == 1 and by[steady.id].of["growth"] == 2
    # another day of the same account is still judged
    db.session.execute(AccountSnapshot.__table__.update().where(AccountSnapshot.account_id == account_id,
                                                                AccountSnapshot.taken_on >= date(2026, 11, 20))
                       .values(followers=AccountSnapshot.followers + 3000))
    assert [j[1] for j in rating.implausible_jumps([cheat.id], NOV)[cheat.id]] == [date(2026, 11, 20)]


# --- the monthly digest ---------------------------------------------------------------------------------
def test_the_monthly_digest_names_the_top_three_and_the_laggards(app):
    from app.models import Notification
    from app.services.rating import digest

    d = make_direction()
    insts = [participant(d, 1000 + 100 * k, 1100 + 200 * k, 5 + k) for k in range(4)]
    falling = participant(d, 800, 700, 6)  # lost 100 subscribers in November
    quiet = participant(d, 500, 500, 0)  # never posted
    result = rating.composite_for_direction(d.id, NOV, date(2026, 12, 1), DEC_1)
    top = [r for r in result.rows if r.place is not None and r.place <= 3]
    at_8 = datetime(2026, 12, 1, 8, 5, tzinfo=TZ)
    text = digest.rating_digest(NOV, at_8)
    assert text.startswith("Рейтинг участников за ноябрь 2026")
    section = text.split(f"{d.name}:")[1].split("\n\n")[0]
    names = {i.id: i.short_name for i in (*insts, falling, quiet)}
    for r in top:
        assert f"{r.place}. {names[r.institution_id]} — {r.score:.1f} балла" in section
    assert f"Аудитория падает: {falling.short_name}" in section
    assert "Нет постов 30 дней:" in section and quiet.short_name in section.split("Нет постов 30 дней:")[1]
    assert insts[0].short_name not in section.split("Нет постов 30 дней:")[1].split("\n")[0]
    head = make_user("head")
    early = datetime(2026, 12, 1, 7, 55, tzinfo=TZ)
    assert digest.send_monthly(early)["sent"] == 0  # before the 1st 08:00
    sent = digest.send_monthly(at_8)
    assert sent["sent"] >= 1
    assert digest.send_monthly(datetime(2026, 12, 9, 12, tzinfo=TZ))["sent"] == 0  # once a month
    notes = db.session.scalars(select(Notification).where(Notification.user_id == head.id)).all()
    assert [n.kind for n in notes] == ["rating_digest"] and f"{d.name}:" in notes[0].text
    # the month it covers is frozen
    assert db.session.scalar(select(RatingSnapshot.id).where(RatingSnapshot.direction_id == d.id,
                                                             RatingSnapshot.kind == "month",
                                                             RatingSnapshot.start == date(2026, 11, 1))) is not None
    assert any(p.path == "app.jobs.rating.monthly_digest" for p in schedule.PERIODIC)
