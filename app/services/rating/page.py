"""What the staff page /rating and its XLSX export show (issue 14, items 3 and 5): one Rating per direction,
every component as the page shows it (value, unit), the laggards, the drill-down of one participant."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.extensions import db
from app.models import Account, Direction, Institution, Post
from app.services.board.periods import Period, city_tz
from app.services.board.periods import today as city_today
from app.services.rating.composite import CHECK_GROWTH, FEW_DATA, Rating, RatingRow, composite_for_direction
from app.services.rating.figures import Figures, figures

SILENCE_DAYS = 30  # a laggard: no post for this many days

# (key, label, export header, unit, value of Figures, scale, ranked component or None)
COLUMNS = (
    ("audience", _l("Подписчики"), "Подписчики на конец", lambda f: f.audience_end, None, "audience"),
    ("growth", _l("Прирост, %"), "Прирост, %", lambda f: f.growth_pct, 1, "growth"),
    ("growth_people", _l("Прирост, чел."), "Прирост, чел.", lambda f: f.growth, None, None),
    ("posts_per_week", _l("Постов в неделю"), "Постов в неделю", lambda f: f.posts_per_week, 1, "posts_per_week"),
    ("post_days", _l("Дней с постами"), "Дней с постами", lambda f: f.post_days, None, None),
    ("silence", _l("Молчание, дн."), "Самое долгое молчание, дн.", lambda f: f.longest_silence, None, "silence"),
    ("err", _l("ERR, %"), "ERR, %", lambda f: f.err, 100, "err"),
    ("er", _l("ER, %"), "ER, %", lambda f: f.er, 100, "er"),
    ("appeals", _l("Обращений"), "Обращений", lambda f: f.appeals, None, None),
    ("on_time", _l("В срок, %"), "В срок, %", lambda f: f.on_time_share, 100, "on_time"),
    ("first_response", _l("Первый ответ, ч"), "Медиана первого ответа, ч", lambda f: f.median_first_response,
     1 / 3600, "first_response"),
    ("rating", _l("Оценка"), "Средняя оценка", lambda f: f.rating_avg, 1, "rating"),
    ("reopened", _l("Переоткрыто, %"), "Доля переоткрытых, %", lambda f: f.reopened_share, 100, "reopened"),
)
FLAG_LABELS = {FEW_DATA: _l("мало данных"), CHECK_GROWTH: _l("проверить накрутку")}


def value(f: Figures, column) -> float | int | None:
    """A component as the page and the export show it: None when missing, numbers rounded to 0.1."""
    _key, _label, _header, get, scale, _comp = column
    v = get(f)
    if v is None:
        return None
    if scale is None:
        return int(v)
    return round(v * scale, 1)


def directions() -> list[Direction]:
    return db.session.scalars(select(Direction).order_by(Direction.sort_order, Direction.id)).all()


def last_posts(institution_ids: list[int]) -> dict[int, datetime]:
    if not institution_ids:
        return {}
    rows = db.session.execute(
        select(Account.institution_id, func.max(Post.published_at)).join(Post, Post.account_id == Account.id)
        .where(Account.institution_id.in_(institution_ids), Post.live()).group_by(Account.institution_id))
    return dict(rows.all())


def laggards(rows: list[RatingRow], names: dict[int, Institution], period: Period, now: datetime | None = None):
    """(institution, reasons) for: no post for 30 days, audience falling, appeals overdue."""
    on = min(period.end, city_today(now))
    since = on - timedelta(days=SILENCE_DAYS - 1)
    last = last_posts([r.institution_id for r in rows])
    out = []
    for r in rows:
        f, why = r.figures, []
        post = last.get(r.institution_id)
        if f.longest_silence >= SILENCE_DAYS or post is None or post.astimezone(city_tz()).date() < since:
            why.append(_l("нет постов 30 дней"))
        if f.growth is not None and f.growth < 0:
            why.append(_l("аудитория падает"))
        if f.feedback is not None and f.feedback.overdue > 0:
            why.append(_l("просрочены обращения: %(n)s", n=f.feedback.overdue))
        if why:
            out.append((names[r.institution_id], why))
    return out


def sections(direction_list: list[Direction], period: Period, now: datetime | None = None) -> list[dict]:
    """For each direction: its Rating, the participants by id and the laggards."""
    out = []
    for d in direction_list:
        rated: Rating = composite_for_direction(d.id, period, now=now)
        ids = [r.institution_id for r in rated.rows]
        names = {i.id: i for i in db.session.scalars(select(Institution).where(Institution.id.in_(ids)))} if ids \
            else {}
        out.append({"direction": d, "rating": rated, "names": names,
                    "laggards": laggards(rated.rows, names, period, now)})
    return out


def drill(institution: Institution, period: Period, now: datetime | None = None) -> list[tuple]:
    """(label, this period, previous period) per component for one participant."""
    cur = figures(institution, period, now=now)
    prev = figures(institution, period.previous(), now=now)
    return [(c[1], value(cur, c), value(prev, c)) for c in COLUMNS] + [(_l("Постов"), cur.posts, prev.posts)]
