"""The public directory of the project's participants (no login): /participants, a participant's page, logos and
avatars served by the app itself (no third-party images); the «Лучшие участники» block when the rating's setting
turns it on (services/rating/public). Figures come from services/directory; `?embed=1`
gives the page without the app's header for a frame on the city site (app/security.py decides who may frame it).
"""
from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, render_template, request
from werkzeug.security import safe_join

from app.extensions import db
from app.models import Institution
from app.services import directory, files
from app.services.rating import public as rating_public

bp = Blueprint("participants", __package__)

IMAGE_CACHE = "public, max-age=3600"
MAX_IMAGE_BYTES = 5 * 1024 * 1024


@bp.get("/participants")
def index():
    page = directory.directory(request.args)
    top = rating_public.block(directory.city_today())  # None when the setting is off or nothing is frozen
    return render_template("participants/index.html", page=page, f=page.filters, top=top)


@bp.get("/participants/<slug>")
def show(slug: str):
    found = directory.participant(slug)
    if found is None:
        abort(404)
    page = directory.participant_page(found)
    # The QR codes' and the feedback figures' templates (other blueprints) get the rows themselves.
    institution, accounts = directory.public_rows(found)
    return render_template("participants/show.html", page=page, participant=institution, accounts=accounts)


def _image(relative: str | None, recorded: str | None, name: str):
    """A logo or an avatar from UPLOAD_DIR: only a raster image whose bytes agree with the recorded type."""
    if not relative:
        abort(404)
    path = safe_join(current_app.config["UPLOAD_DIR"], relative)
    if path is None or not os.path.isfile(path) or os.path.getsize(path) > MAX_IMAGE_BYTES:
        abort(404)
    with open(path, "rb") as fh:
        content = fh.read()
    content_type, inline = files.decide(content, recorded)
    if not inline or content_type not in files.INLINE_IMAGES:
        abort(404)
    return files.serve(content, {"mime": recorded, "name": name}, name, cache=IMAGE_CACHE)


@bp.get("/participants/<slug>/logo")
def logo(slug: str):
    inst = db.session.scalar(db.select(Institution).where(Institution.slug == slug[:directory.MAX_SLUG],
                                                          Institution.is_active.is_(True)))
    if inst is None:
        abort(404)
    return _image(inst.logo_path, inst.logo_type, f"logo-{inst.slug}")


@bp.get("/participants/avatar/<int:account_id>")
def avatar(account_id: int):
    account = directory.active_account(account_id)
    if account is None or account.network == "other":
        abort(404)
    return _image(account.avatar_path, account.avatar_type, f"avatar-{account.id}")
