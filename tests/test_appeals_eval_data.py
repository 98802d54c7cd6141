"""The hand-written evaluation set of appeals (tests/data/appeals_eval.csv) is well formed and labelled
with the demo city's rubrics, institutions and streets (see tests/data/README.md)."""
from __future__ import annotations

import csv
import re
from collections import Counter
from pathlib import Path

import pytest

from app.demo.data import CATEGORIES, INSTITUTIONS, STREETS

DATA = Path(__file__).parent / "data" / "appeals_eval.csv"
HTML = re.compile(r"<(p|br|b)\b[^>]*>|&nbsp;", re.IGNORECASE)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["id", "text", "rubric", "institution", "address", "group"]
        return list(reader)


def test_size_and_unique_ids(rows):
    assert len(rows) >= 500
    assert len({r["id"] for r in rows}) == len(rows)


def test_texts_are_distinct_and_not_empty(rows):
    texts = [r["text"].strip() for r in rows]
    assert all(texts)
    assert len(set(texts)) == len(texts)


def test_labels_exist_in_the_demo_reference(rows):
    rubrics = {c[0] for c in CATEGORIES}
    slugs = {i[3] for i in INSTITUTIONS}
    assert {r["rubric"] for r in rows} <= rubrics
    assert {r["institution"] for r in rows} <= slugs


def test_every_rubric_is_covered(rows):
    counts = Counter(r["rubric"] for r in rows)
    assert set(counts) == {c[0] for c in CATEGORIES}
    assert min(counts.values()) >= 12


def test_some_institutions_differ_from_the_rubric_default(rows):
    default = {c[0]: c[3] for c in CATEGORIES}
    other = sum(r["institution"] != default[r["rubric"]] for r in rows)
    assert 0.1 * len(rows) <= other <= 0.35 * len(rows)


def test_html_from_portal_editors(rows):
    assert sum(bool(HTML.search(r["text"])) for r in rows) >= 20


def test_addresses_are_normalised_streets_of_the_city(rows):
    streets = {s[0] for s in STREETS}
    for r in rows:
        if not r["address"]:
            continue
        street, _, house = r["address"].rpartition(", ")
        assert street in streets, r
        assert re.fullmatch(r"\d+[а-я]?", house), r
        assert house in r["text"], r


def test_repeat_groups_are_pairs_about_the_same_thing(rows):
    groups: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        if r["group"]:
            groups.setdefault(r["group"], []).append(r)
    assert len(groups) >= 30
    for members in groups.values():
        assert len(members) == 2
        a, b = members
        assert (a["rubric"], a["institution"], a["address"]) == (b["rubric"], b["institution"], b["address"])
