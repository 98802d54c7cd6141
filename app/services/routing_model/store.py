"""The stored models: the current one of each target, loaded once per process and kept while its (id, version)
stays current — routing a message costs one indexed lookup and the prediction."""
from __future__ import annotations

import threading
import time

import numpy as np
from flask import current_app
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import RoutingModel, utcnow
from app.services.routing_model import model as learned

_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], learned.Model, float]] = {}
_checked: dict[str, float] = {}  # target → monotonic time of the last look at the database


def current_row(target: str) -> RoutingModel | None:
    return db.session.scalar(select(RoutingModel).where(RoutingModel.target == target,
                                                        RoutingModel.is_current.is_(True)))


def current(target: str) -> tuple[learned.Model, float] | None:
    """(model, threshold) of the target's current model, or None (none stored, or its blob cannot be loaded:
    logged, and triage falls back as without a model). The database is asked at most every
    ROUTING_MODEL_CHECK_SECONDS which (id, version) is current; the blob is read and rebuilt only when that
    changed."""
    hit = _cache.get(target)
    every = float(current_app.config.get("ROUTING_MODEL_CHECK_SECONDS", 5))
    if hit is not None and time.monotonic() - _checked.get(target, 0.0) < every:
        return (hit[1], hit[2]) if hit[1] is not None else None
    key = db.session.execute(select(RoutingModel.id, RoutingModel.version, RoutingModel.threshold)
                             .where(RoutingModel.target == target, RoutingModel.is_current.is_(True))).first()
    if key is None:  # none stored: remembered as such for the same interval (one look, not one per message)
        with _lock:
            _cache[target] = (None, None, 0.0)
            _checked[target] = time.monotonic()
        return None
    ident = (key.id, key.version)
    with _lock:
        hit = _cache.get(target)
        if hit is None or hit[0] != ident:
            blob = db.session.scalar(select(RoutingModel.blob).where(RoutingModel.id == key.id))
            try:
                loaded = learned.load(blob)
            except Exception as exc:  # noqa: BLE001 — a blob that cannot load must never stop triage
                current_app.logger.error("routing model %s v%s (id %s) cannot be loaded, not used: %s: %s",
                                         target, key.version, key.id, type(exc).__name__, exc)
                loaded = None  # kept as broken for this (id, version): not read again until a new one is current
            hit = (ident, loaded, float(key.threshold))
            _cache[target] = hit
        _checked[target] = time.monotonic()
    if hit[1] is None:
        return None
    return hit[1], hit[2]


def forget() -> None:
    """Drop the process's loaded models: the next call reads the database."""
    _cache.clear()
    _checked.clear()


def trained_ids(target: str) -> set[int]:
    """The ticket ids the current model learned from (kept in its blob's meta)."""
    found = current(target)
    return set(found[0].meta.get("ticket_ids") or []) if found else set()


def put(target: str, m: learned.Model, scores: dict, threshold: float, ticket_ids) -> RoutingModel:
    """Store a model as the target's current one (the next version). Caller commits."""
    m.meta["ticket_ids"] = sorted(int(i) for i in np.asarray(list(ticket_ids)).tolist())
    last = db.session.scalar(select(func.max(RoutingModel.version)).where(RoutingModel.target == target)) or 0
    db.session.execute(update(RoutingModel).where(RoutingModel.target == target, RoutingModel.is_current.is_(True))
                       .values(is_current=False))
    db.session.flush()
    row = RoutingModel(target=target, version=last + 1, trained_at=utcnow(), n_train=int(m.meta.get("n_train", 0)),
                       scores=scores, threshold=float(threshold), blob=learned.save(m), is_current=True)
    db.session.add(row)
    db.session.flush()
    forget()  # this process sees the new model at once (others within ROUTING_MODEL_CHECK_SECONDS)
    return row
