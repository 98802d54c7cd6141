"""The public directory of the project's participants (no login): /participants, a participant's page, logos and
avatars served by the app itself (no third-party images); the «Лучшие участники» block when the rating's setting
turns it on (services/rating/public). Figures come from services/directory; `?embed=1`
gives the page without the app's header for a frame on the city site (app/security.py decides who may frame it).
"""
from __future__ import annotations

import os
import threading

from flask import Blueprint, abort, current_app, render_template, request
from flask_babel import get_locale
from markupsafe import Markup
from werkzeug.security import safe_join

from app.extensions import db
from app.models import Institution
from app.services import directory, files
from app.services.rating import public as rating_public

bp = Blueprint("participants", __package__)

IMAGE_CACHE = "public, max-age=3600"
MAX_IMAGE_BYTES = 5 * 1024 * 1024


GROUP_TEMPLATE = "participants/_group.html"
# A direction's group's HTML by everything it shows (its participants' and accounts' shown fields, the language and
# the page's addresses): a pure function of that key, so an entry never goes stale (a change is another key). The
# groups list ~140 participants and ~320 accounts: rendering them was most of the page. Bounded.
_groups: dict[tuple, Markup] = {}
_groups_lock = threading.Lock()
MAX_GROUPS = 256


def group_html(g: dict, show_base: str, embed_suffix: str, ext, avatar_base: str, t_link: str) -> Markup:
    """participants/_group.html's `group` for `g`, rendered once per content in this process."""
    key = (str(get_locale() or ""), show_base, embed_suffix, str(ext), avatar_base, str(t_link), g["code"],
           g["name"], tuple((p.slug, p.short_name, p.name,
                             tuple((a.id, a.network, a.has_avatar, a.network_name, a.url, a.stats, a.followers_text)
                                   for a in p.accounts)) for p in g["participants"]))
    html = _groups.get(key)
    if html is None:
        html = Markup(current_app.jinja_env.get_template(GROUP_TEMPLATE).module.group(
            g, show_base, embed_suffix, ext, avatar_base, t_link))
        with _groups_lock:
            if len(_groups) >= MAX_GROUPS:
                _groups.clear()
            _groups[key] = html
    return html


@bp.get("/participants")
def index():
    page = directory.directory(request.args)
    top = rating_public.block(directory.city_today())  # None when the setting is off or nothing is frozen
    return render_template("participants/index.html", page=page, f=page.filters, top=top, group_html=group_html)


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
