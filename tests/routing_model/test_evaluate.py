"""Evaluation: folds grouped by the masked text, the threshold's arithmetic, the report's figures."""
from __future__ import annotations

import numpy as np
import pytest

from app.services.routing_model import evaluate as ev
from app.services.routing_model.mask import mask


def test_duplicates_never_split():
    base = [f"Текст номер {i} про яму у дома {i}" for i in range(40)]
    # the same appeal again: another phone, other case and punctuation, HTML around — one group once masked
    texts = base + [f"<p>ТЕКСТ номер {i}, про яму у дома {i}!</p> +7 912 000-00-{i:02d}" for i in range(0, 40, 3)]
    masked = [mask(t) for t in texts]
    assert ev.group_key(masked[0]) == ev.group_key(masked[40])
    folds = ev.make_folds(masked, 5)
    assert len(folds) == 5
    fold_of = {}
    for k, (tr, te) in enumerate(folds):
        assert not set(tr) & set(te) and len(tr) + len(te) == len(texts)
        for i in te:
            fold_of[i] = k
    assert len(fold_of) == len(texts)  # every text tested exactly once
    for j, i in enumerate(range(0, 40, 3)):
        assert fold_of[i] == fold_of[40 + j]


def test_threshold_on_a_hand_made_example():
    # sorted by probability: 10 predictions, the 4th and the 8th wrong
    p = [0.99, 0.97, 0.95, 0.90, 0.85, 0.80, 0.75, 0.70, 0.60, 0.50]
    c = [1, 1, 1, 0, 1, 1, 1, 0, 1, 1]
    # precision at cuts: 1, 1, 1, .75, .8, .833, .857, .75, .778, .8 — only the first three reach 95 %
    t, share, prec = ev.threshold_for(p, c, 0.95)
    assert (t, share, prec) == (0.95, 0.3, 1.0)
    # at 80 % the lowest threshold reaching it is 0.50 (10 of 10, 8 right)
    assert ev.threshold_for(p, c, 0.80) == (0.50, 1.0, 0.8)
    # at 85 %: 0.75 (7 of 10, 6 right: 0.857)
    t, share, prec = ev.threshold_for(p, c, 0.85)
    assert t == 0.75 and share == 0.7 and prec == pytest.approx(6 / 7)


def test_threshold_takes_ties_whole_and_never_when_unreachable():
    # two at 0.9, one of them wrong: no cut between them
    assert ev.threshold_for([0.9, 0.9, 0.5], [1, 0, 1], 0.95) == (ev.NEVER, 0.0, 0.0)
    assert ev.threshold_for([0.99, 0.9, 0.9], [1, 0, 1], 0.95) == (0.99, pytest.approx(1 / 3), 1.0)
    assert ev.threshold_for([], [], 0.95) == (ev.NEVER, 0.0, 0.0)
    assert ev.threshold_for([0.4, 0.3], [0, 0]) == (ev.NEVER, 0.0, 0.0)


def test_report_figures():
    labels = ["a", "a", "b", "b", "c"]
    label_list = ["a", "b", "c"]
    proba = np.array([[.9, .05, .05],   # a right
                      [.2, .7, .1],     # a → b, a second
                      [.1, .8, .1],     # b right
                      [.1, .3, .6],     # b → c, b second
                      [.5, .3, .2]])    # c → a, c third
    folds = [(np.array([2, 3, 4]), np.array([0, 1])), (np.array([0, 1]), np.array([2, 3, 4]))]
    rep = ev.report("category", labels, label_list, proba, folds, ["a", None, "b", "a", "c"], {"a": "Дороги"})
    assert rep.top1 == pytest.approx(2 / 5) and rep.top3 == 1.0
    assert rep.keywords_top1 == pytest.approx(3 / 5) and rep.keywords_none == pytest.approx(1 / 5)
    assert rep.fold_top1 == [0.5, pytest.approx(1 / 3)]
    by = {c["label"]: c for c in rep.per_class}
    assert by["a"]["name"] == "Дороги" and by["a"]["precision"] == 0.5 and by["a"]["recall"] == 0.5
    assert by["c"]["f1"] == 0.0
    assert rep.macro_f1 == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert {(x["true"], x["predicted"]) for x in rep.confused} == {("a", "b"), ("b", "c"), ("c", "a")}
    assert (rep.threshold, rep.auto_share) == (0.8, 0.4)  # 0.9 and 0.8 right, then 0.7 wrong
    text = ev.format_report(rep)
    assert "top-1" in text and "Дороги" in text and "Порог 0.800" in text


def test_cross_predict_never_sees_the_tested_text():
    texts = ["яма на дороге", "фонарь не горит"] * 10 + ["уникальное слово зюзюка"]
    labels = ["roads", "lights"] * 10 + ["weird"]
    masked = [mask(t) for t in texts]
    folds = ev.make_folds(masked, 3)
    label_list, proba = ev.cross_predict(masked, labels, folds)
    assert label_list == ["lights", "roads", "weird"]
    # all the duplicates of a text are in one fold: the model tested on «яма на дороге» never saw it
    # (its fold has all ten copies), and «weird» was never trained on when it was tested
    assert proba[20, 2] == 0.0
    assert np.allclose(proba.sum(axis=1), 1.0)
