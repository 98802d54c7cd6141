"""The learned model: train and predict on a small hand-written set, stored without pickle and loaded back."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from app.services.routing_model import model as learned

SET = [
    ("Во дворе огромная яма на дороге, машины бьют колёса", "roads"),
    ("Яма на проезжей части у остановки", "roads"),
    ("Разбит асфальт, ямы по всей улице", "roads"),
    ("Дорогу так и не отремонтировали, сплошные выбоины", "roads"),
    ("После ремонта дороги снова яма", "roads"),
    ("Не горит фонарь у подъезда, темно", "lights"),
    ("Уличное освещение не работает третий день", "lights"),
    ("Фонари на улице не горят, страшно ходить", "lights"),
    ("Перегорела лампа в фонаре возле школы", "lights"),
    ("Темно во дворе, фонарь не включают", "lights"),
    ("Мусор не вывозят неделю, контейнеры переполнены", "trash"),
    ("Контейнерная площадка завалена мусором", "trash"),
    ("Не вывезли мусор, баки полные", "trash"),
    ("Стихийная свалка мусора за гаражами", "trash"),
    ("Мусоровоз не приезжал, мусор разносит ветер", "trash"),
] * 2


@pytest.fixture(scope="module")
def trained():
    texts, labels = zip(*SET, strict=True)
    return learned.train(list(texts), list(labels))


def test_predicts_top_k_with_probabilities(trained):
    top = trained.predict("огромная яма на дороге", k=3)
    assert [label for label, _p in top][0] == "roads"
    assert len(top) == 3 and sorted({label for label, _ in top}) == ["lights", "roads", "trash"]
    assert top[0][1] > top[1][1] >= top[2][1] and abs(sum(p for _, p in top) - 1) < 1e-6
    assert trained.predict("фонарь не горит", k=1)[0][0] == "lights"
    assert trained.predict("контейнеры с мусором", k=1)[0][0] == "trash"


def test_load_of_save_predicts_identically(trained):
    blob = learned.save(trained)
    again = learned.load(blob)
    texts = [t for t, _ in SET] + ["яма", "совсем другой текст", ""]
    assert again.labels == trained.labels
    assert np.array_equal(again.proba(texts), trained.proba(texts))
    assert again.meta["n_train"] == len(SET)


def test_two_labels(trained):
    m = learned.train([t for t, lab in SET if lab != "trash"], [lab for t, lab in SET if lab != "trash"])
    again = learned.load(learned.save(m))
    assert again.predict("яма на дороге", k=1)[0][0] == "roads"
    assert np.array_equal(again.proba(["яма", "фонарь"]), m.proba(["яма", "фонарь"]))


def test_one_label_refused():
    with pytest.raises(ValueError):
        learned.train(["яма", "ещё яма"], ["roads", "roads"])


class Boom:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_a_pickle_is_refused(trained, capsys):
    with pytest.raises(learned.UnsafeModel):
        learned.load(pickle.dumps(trained))
    with pytest.raises(learned.UnsafeModel):
        learned.load(pickle.dumps(Boom()))
    # an .npz holding an object array (pickled inside): np.load(allow_pickle=False) refuses it
    buf = io.BytesIO()
    np.savez(buf, header=np.array([Boom()], dtype=object))
    with pytest.raises(learned.UnsafeModel):
        learned.load(buf.getvalue())
    # a real model's archive with one array swapped for a pickled object
    with np.load(io.BytesIO(learned.save(trained))) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["coef"] = np.array([Boom()], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(learned.UnsafeModel):
        learned.load(buf.getvalue())
    assert "unpickled!" not in capsys.readouterr().out


def test_garbage_refused():
    for blob in (b"", b"not a model", b"PK\x03\x04broken"):
        with pytest.raises(learned.UnsafeModel):
            learned.load(blob)
    buf = io.BytesIO()
    np.savez(buf, header=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(learned.UnsafeModel):
        learned.load(buf.getvalue())


def test_words_in_their_dictionary_form():
    from app.services.routing_model.lemmas import lemmatize
    assert lemmatize("Огромные КОНТЕЙНЕРЫ на дорогах, NAME PHONE") == "огромный контейнер на дорога name phone"
    assert lemmatize("дом 12, кв. 5") == "дом 12 кв 5"
    assert lemmatize("") == ""


def test_the_model_generalises_over_word_forms(trained):
    assert trained.meta["prep"] == learned.LEMMAS
    assert trained.predict("ямами", k=1)[0][0] == "roads"  # a form never seen in training
    assert trained.predict("фонарями", k=1)[0][0] == "lights"
