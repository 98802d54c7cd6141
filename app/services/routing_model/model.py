"""The learned router: TF-IDF over words (1-2 grams) and characters (2-5 grams inside words) joined, and a
multinomial logistic regression giving a probability per label.

Stored without pickle: the vectorizers' parameters and vocabularies and the classifier's classes go to JSON, the
numbers (idf, coefficients, intercepts) to numpy arrays, all in one .npz read with `allow_pickle=False`; loading
rebuilds the scikit-learn objects from them. A blob holding a pickle (or an object array) is refused.
scikit-learn is imported inside the functions, so the app and `flask --help` start without it.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

import numpy as np

from app.services.routing_model.lemmas import lemmatize

FORMAT = "om-routing-1"
WORD_PARAMS = {"analyzer": "word", "ngram_range": (1, 2), "sublinear_tf": True, "lowercase": True, "min_df": 2,
               "max_df": 0.5, "token_pattern": r"(?u)\b\w\w+\b", "dtype": np.float32}
CHAR_PARAMS = {"analyzer": "char_wb", "ngram_range": (3, 5), "sublinear_tf": True, "lowercase": True,
               "min_df": 3, "max_df": 0.9, "max_features": 300_000, "dtype": np.float32}
DEFAULT_C = 10.0  # rubric top-1 on the 525 hand-written appeals: C=1 72 %, 3 77 %, 10 77 %, 30 77 %, 100 78 %
LEMMAS = "lemmas"


class UnsafeModel(ValueError):
    """The blob is not a model this code wrote (a pickle, an object array, a wrong layout)."""


@dataclass
class Model:
    labels: list[str]  # the classifier's classes, as strings
    vectorizers: list  # fitted TfidfVectorizers (word, char)
    classifier: object  # fitted LogisticRegression
    meta: dict = field(default_factory=dict)  # anything JSON (n_train, C, trained ids kept by the store…)

    def features(self, texts):
        from scipy.sparse import hstack
        texts = _prepare(texts, self.meta.get("prep"))
        return hstack([v.transform(texts) for v in self.vectorizers]).tocsr()

    def proba(self, texts) -> np.ndarray:
        return self.classifier.predict_proba(self.features(texts))

    def predict(self, text: str, k: int = 3) -> list[tuple[str, float]]:
        """The k likeliest labels with their probabilities, likeliest first."""
        p = self.proba([text])[0]
        order = np.argsort(-p)[:k]
        return [(self.labels[i], float(p[i])) for i in order]

    def predict_many(self, texts, k: int = 3) -> list[list[tuple[str, float]]]:
        p = self.proba(list(texts))
        order = np.argsort(-p, axis=1)[:, :k]
        return [[(self.labels[i], float(row[i])) for i in idx] for row, idx in zip(p, order, strict=True)]


def _vectorizers():
    from sklearn.feature_extraction.text import TfidfVectorizer
    return [TfidfVectorizer(**WORD_PARAMS), TfidfVectorizer(**CHAR_PARAMS)]


def _prepare(texts, prep: str | None) -> list[str]:
    texts = list(texts)
    if prep == LEMMAS:
        return [lemmatize(t) for t in texts]
    return texts


def train(texts, labels, C: float = DEFAULT_C, max_iter: int = 100, prep: str | None = LEMMAS  # noqa: N803
          ) -> Model:
    """Fit on already masked texts (`mask.mask`). At least two distinct labels. `prep`: «lemmas» (the words'
    dictionary forms, lemmas.py) or None (the masked text as it is)."""
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression

    texts, labels = _prepare(texts, prep), [str(x) for x in labels]
    if len(set(labels)) < 2:
        raise ValueError("need at least two labels to learn a route")
    vecs = _vectorizers()
    if len(texts) < 20:  # a tiny set: no word would reach min_df
        for v in vecs:
            v.set_params(min_df=1, max_df=1.0)
    x = hstack([v.fit_transform(texts) for v in vecs]).tocsr()
    clf = LogisticRegression(C=C, max_iter=max_iter, solver="lbfgs", tol=1e-3)
    clf.fit(x, labels)
    for v in vecs:  # the stop words cut by min_df/max_df are not needed to predict (and would keep rare names)
        if hasattr(v, "stop_words_"):
            v.stop_words_ = None
    return Model(labels=[str(c) for c in clf.classes_], vectorizers=vecs, classifier=clf,
                 meta={"n_train": len(texts), "C": C, "prep": prep})


# --- storage ----------------------------------------------------------------------------------


def _vec_params(v) -> dict:
    keep = ("analyzer", "ngram_range", "sublinear_tf", "lowercase", "min_df", "max_df", "max_features",
            "token_pattern", "norm", "use_idf", "smooth_idf", "binary", "strip_accents")
    params = {k: v.get_params()[k] for k in keep}
    params["ngram_range"] = list(params["ngram_range"])
    return params


def save(model: Model) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    vec_meta = []
    for i, v in enumerate(model.vectorizers):
        terms = [""] * len(v.vocabulary_)
        for term, idx in v.vocabulary_.items():
            terms[idx] = term
        vec_meta.append({"params": _vec_params(v), "terms": terms})
        arrays[f"idf{i}"] = np.asarray(v.idf_)
    clf = model.classifier
    arrays["coef"] = np.asarray(clf.coef_)
    arrays["intercept"] = np.asarray(clf.intercept_)
    header = {"format": FORMAT, "labels": model.labels, "vectorizers": vec_meta, "meta": model.meta,
              "classifier": {"C": float(clf.C)}}
    arrays["header"] = np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load(blob: bytes) -> Model:
    """Rebuild a model from `save`'s bytes; raises UnsafeModel on anything else (never unpickles)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    if not isinstance(blob, bytes | bytearray | memoryview) or not zipfile.is_zipfile(io.BytesIO(bytes(blob))):
        raise UnsafeModel("not an .npz archive")
    try:
        with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, KeyError) as exc:  # ValueError: an object (pickled) array
        raise UnsafeModel(str(exc)) from None
    try:
        header = json.loads(arrays.pop("header").astype(np.uint8).tobytes().decode("utf-8"))
        if header.get("format") != FORMAT or (header.get("meta") or {}).get("prep") not in (None, LEMMAS):
            raise UnsafeModel("unknown format")
        vecs = []
        for i, vm in enumerate(header["vectorizers"]):
            params = dict(vm["params"])
            params["ngram_range"] = tuple(params["ngram_range"])
            v = TfidfVectorizer(dtype=np.float32, **params)
            v.vocabulary_ = {t: j for j, t in enumerate(vm["terms"])}
            v.fixed_vocabulary_ = False
            v.idf_ = arrays[f"idf{i}"]
            vecs.append(v)
        labels = [str(x) for x in header["labels"]]
        coef, intercept = arrays["coef"], arrays["intercept"]
        if coef.dtype.kind != "f" or intercept.dtype.kind != "f":
            raise UnsafeModel("coefficients are not numbers")
        clf = LogisticRegression(C=header["classifier"]["C"])
        clf.classes_ = np.array(labels)
        clf.coef_ = coef
        clf.intercept_ = intercept
        clf.n_features_in_ = coef.shape[1]
        if coef.shape[1] != sum(len(v.vocabulary_) for v in vecs) or len(labels) < 2:
            raise UnsafeModel("the arrays do not fit together")
    except (KeyError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnsafeModel(f"bad layout: {exc}") from None
    return Model(labels=labels, vectorizers=vecs, classifier=clf, meta=header.get("meta") or {})
