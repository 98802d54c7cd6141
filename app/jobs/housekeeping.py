"""Small periodic clean-ups. Idempotent: running twice changes nothing the second time."""
from app.extensions import db
from app.jobs.context import in_app
from app.services import auth


@in_app
def purge_login_attempts() -> int:
    removed = auth.purge_login_attempts()
    db.session.commit()
    return removed
