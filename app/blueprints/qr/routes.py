"""Public, no login: a participant's QR codes as SVG / PNG, and its A4 poster «Пишите нам» (services/qr)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request

from app.models import Institution
from app.security import FILE_CSP
from app.services import qr
from app.services.files import content_disposition

bp = Blueprint("qr", __name__)

# The same code for the same participant and settings: an hour in any cache, then revalidated by its ETag.
CACHE = "public, max-age=3600"


def _participant(slug: str) -> Institution:
    participant = qr.participant_by_slug(slug)
    if participant is None:
        abort(404)
    return participant


@bp.get("/participants/<slug>/qr/<what>.<any(svg, png):kind>")
def image(slug: str, what: str, kind: str):
    participant = _participant(slug)
    code = qr.find(participant, what)
    if code is None:
        abort(404)
    resp = Response(qr.render(code, kind), mimetype=qr.MIME[kind])
    disposition = "attachment" if request.args.get("dl") == "1" else "inline"
    resp.headers["Content-Disposition"] = content_disposition(disposition, qr.file_name(participant, code, kind))
    if kind == "svg":
        resp.headers["Content-Security-Policy"] = FILE_CSP  # opened on its own: nothing in it may run
    resp.headers["Cache-Control"] = CACHE
    resp.add_etag()
    return resp.make_conditional(request)


@bp.get("/participants/<slug>/poster")
def poster(slug: str):
    participant = _participant(slug)
    accounts = qr.active_accounts(participant)
    return render_template("qr/poster.html", participant=participant,
                           feedback=qr.feedback_codes(participant), follow=qr.account_codes(accounts))
