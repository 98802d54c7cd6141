"""A platform answering nonsense for one account's figures (a count above PostgreSQL's integer, a negative one,
a string, a superscript digit, a fraction, null): that account is marked with a reason, the others collected,
nothing half-written, no exception out of the collection (issue 12, item 8)."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Account, AccountSnapshot, Post
from app.services import verdict
from app.services.accounts import collection
from app.services.accounts.platforms.base import as_count, as_int
from tests.accounts.test_collection import EXT, NOW, account, snapshots, uploads  # noqa: F401
from tests.factories import make_institution

NONSENSE = [2**31, 2**40, -5, "12a", "²", "١٢", 1.5, None, "", [], {"n": 1}]


@pytest.mark.parametrize("value", [2**31, "²", "١٢", -1, "1e3", True])
def test_a_count_is_a_bounded_ascii_integer(value):
    assert as_count(value) is None
    assert as_int("²") is None  # str.isdigit() says yes, int() would raise


def test_a_count_within_range_is_kept():
    assert as_count(2**31 - 1) == 2**31 - 1 and as_count(" 42 ") == 42 and as_count(0) == 0


@pytest.mark.parametrize("network", list(EXT))
@pytest.mark.parametrize("value", NONSENSE)
def test_nonsense_followers_mark_only_that_account(nets, pace, network, value):
    inst = make_institution()
    ext = EXT[network]
    broken = account(nets, network, ext, institution=inst)
    fine = account(nets, network, ext + (1 if ext > 0 else -1), institution=inst)
    audience = nets.fake(network).audience
    real = audience.followers
    def followers(eid):
        return value if str(eid).lstrip("-") == str(ext).lstrip("-") else real(eid)

    audience.followers = followers
    summary = collection.collect_all(now=NOW, pacing=pace)
    db.session.expire_all()
    assert snapshots(fine) and fine.collect_error is None
    assert not snapshots(broken) and broken.collect_error, broken.collect_error
    assert "не записаны" not in broken.collect_error  # the platform's nonsense is named, not a database refusal
    assert [f.account_id for f in summary.failed] == [broken.id]
    assert broken.collected_at is None  # nothing of it written


def test_huge_post_metrics_keep_the_account_and_drop_the_metric(nets, pace):
    acc = account(nets, "vk", 3500001)
    real = nets.vk.audience.recent

    def recent(eid, count):
        rows = real(eid, count)
        for r in rows:
            r["views"] = 2**40
        return rows

    nets.vk.audience.recent = recent
    collection.collect_all(now=NOW, pacing=pace)
    db.session.expire_all()
    assert acc.collect_error is None and snapshots(acc)
    views = db.session.scalars(select(Post.views).where(Post.account_id == acc.id)).all()
    assert views and all(v is None for v in views)
    assert db.session.scalar(select(AccountSnapshot.followers).where(AccountSnapshot.account_id == acc.id)) > 0


# --- the kind: str.isdigit() says yes to «²», «١٢», «５»; int() refuses «²» ---------------------------------------
def test_every_isdigit_check_in_the_app_is_ascii_only():
    """A sweep: each `x.isdigit()` in app/ comes with `x.isascii()` on its line (per-character checks aside), so a
    value that passed the check can always go to int()."""
    root = Path(__file__).resolve().parents[2] / "app"
    offenders = []
    for path in root.rglob("*.py"):
        if "fakes" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if ".isdigit()" in line and "isascii()" not in line and "ch.isdigit()" not in line \
                    and not line.lstrip().startswith(("#", '"', "or «")):
                offenders.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert not offenders, offenders


@pytest.mark.parametrize("row", ["2026-01-01;https://vk.com/h_vk;²;1", "2026-01-01;https://vk.com/h_vk;5;١٢"])
def test_history_with_odd_digits_is_a_reported_row(app, tmp_path, row):
    acc = account_row("h_vk")
    history = tmp_path / "h.csv"
    history.write_text(row + "\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["accounts", "import-history", str(history)])
    assert result.exit_code == 1 and not isinstance(result.exception, ValueError), result.output
    assert "не целое неотрицательное число" in result.output
    assert not snapshots(acc)


def test_a_verdict_button_with_odd_digits_is_ignored():
    assert verdict.parse("v:²:yes") is None and verdict.parse("v:12:yes") == (12, "yes")


def account_row(handle: str) -> Account:
    acc = Account(institution=make_institution(), network="vk", handle=handle, url=f"https://vk.com/{handle}",
                  external_id="1")
    db.session.add(acc)
    db.session.commit()
    return acc
