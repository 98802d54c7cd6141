"""Names of VK residents. Callback API events carry only `from_id`, so intake stores a VK resident with an
empty display_name; `name_batch()` asks VK for the names (users.get, groups.getById for communities) and
fills them in. Empty means "not looked up yet": a deleted or blocked page, or an id VK does not return, gets
the id form «id<N>» and is not asked again. Never commits (the job does, batch by batch).
"""
from __future__ import annotations

from sqlalchemy import select, update

from app.channels.vk import NAMES_BATCH, NETWORK, VkAdapter
from app.extensions import db
from app.models import Resident


def unnamed_count() -> int:
    return db.session.scalar(select(db.func.count(Resident.id)).where(Resident.network == NETWORK,
                                                                      Resident.display_name == ""))


def name_batch(config: dict, limit: int = NAMES_BATCH) -> int:
    """Name up to `limit` unnamed VK residents (one users.get call for up to 1,000 of them); returns how many
    rows were taken. The rows stay locked (SKIP LOCKED: parallel jobs take other residents) until the caller
    commits; a ChannelError from VK propagates and the caller rolls back, leaving the names empty."""
    rows = db.session.execute(
        select(Resident.id, Resident.external_id)
        .where(Resident.network == NETWORK, Resident.display_name == "")
        .order_by(Resident.id).limit(limit).with_for_update(skip_locked=True)).all()
    if not rows:
        return 0
    vk_ids = {rid: _vk_id(external_id) for rid, external_id in rows}
    names = VkAdapter().names([i for i in vk_ids.values() if i is not None], config)
    values = [{"id": rid, "display_name": (names.get(vk_id) if vk_id is not None else None) or f"id{external_id}"}
              for (rid, external_id), vk_id in zip(rows, vk_ids.values(), strict=True)]
    db.session.execute(update(Resident), values)  # ORM bulk UPDATE by primary key: one executemany
    return len(rows)


def _vk_id(external_id: str) -> int | None:
    try:
        return int(external_id) or None
    except (TypeError, ValueError):
        return None
