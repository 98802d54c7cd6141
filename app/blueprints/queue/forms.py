"""Queue filter form (GET, no CSRF) and bulk-action form."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from app.cached_select import CachedSelectField
from app.extensions import db
from app.htmx import parse_id
from app.models import NETWORK_LABELS, REJECT_REASONS, STATUS_LABELS, Category, Direction, Institution
from app.services import refdata
from app.services.queue import SLA_STATES, SORTS, QueueFilters
from app.services.tickets import BULK_ACTIONS

STATUS_GROUPS = {"open": _l("Открытые"), "all": _l("Все")}


def _int_or_none(value):
    """Coerce a select's value to an id; WTForms turns the ValueError into the field's message."""
    if value in (None, "", "None"):
        return None
    n = parse_id(value)
    if n is None:
        raise ValueError("not an id")
    return n


def _institution_rows(receiving_only: bool) -> list[tuple[str, str]]:
    stmt = select(Institution.id, Institution.short_name).order_by(Institution.short_name)
    if receiving_only:
        stmt = stmt.where(Institution.receives_appeals.is_(True))
    return [(str(i), n) for i, n in db.session.execute(stmt)]


def _category_rows() -> list[tuple[str, str]]:
    return [(str(i), n) for i, n in db.session.execute(select(Category.id, Category.name).order_by(Category.name))]


def _direction_rows() -> list[tuple[str, str]]:
    return [(str(i), n) for i, n in
            db.session.execute(select(Direction.id, Direction.name).order_by(Direction.sort_order))]


def institution_choices(blank: str, receiving_only: bool = False):
    """(id, short name) of the institutions; `receiving_only`: only those that receive residents' appeals (the
    choices of an assignment — a participant that only publishes is never sent a ticket). Read once per
    reference data version (app/services/refdata.py)."""
    rows = refdata.memo(("institutions", receiving_only), lambda: _institution_rows(receiving_only))
    return [("", blank)] + rows


def category_choices(blank: str):
    return [("", blank)] + refdata.memo(("categories",), _category_rows)


class QueueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    # every select's choices and <option> HTML are built once per reference data version and locale
    status = CachedSelectField(_l("Статус"), default="open", validate_choice=True)
    direction = CachedSelectField(_l("Направление"), coerce=_int_or_none, validate_choice=True)
    institution = CachedSelectField(_l("Учреждение"), coerce=_int_or_none, validate_choice=True)
    category = CachedSelectField(_l("Рубрика"), coerce=_int_or_none, validate_choice=True)
    network = CachedSelectField(_l("Сеть"), default="", validate_choice=True)
    overdue = BooleanField(_l("Только просроченные"))  # the old URL (overdue=y) = sla=overdue
    sla = CachedSelectField(_l("Срок"), default="", validate_choice=True)
    q = StringField(_l("Поиск"), validators=[Optional(), Length(max=200, message=_l("Не больше 200 символов"))])
    sort = CachedSelectField(_l("Порядок"), default="new", validate_choice=True)
    cursor = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.use(("q.status",), lambda: list(STATUS_GROUPS.items()) + list(STATUS_LABELS.items()))
        self.direction.use(("q.direction",), lambda: [("", _l("Все направления"))] + _direction_rows())
        self.institution.use(("q.institution",), lambda: institution_choices(_l("Все учреждения")))
        self.category.use(("q.category",), lambda: category_choices(_l("Все рубрики")))
        self.network.use(("q.network",), lambda: [("", _l("Все сети"))] + list(NETWORK_LABELS.items()))
        self.sort.use(("q.sort",), lambda: list(SORTS.items()))
        self.sla.use(("q.sla",), lambda: [("", _l("Любой срок"))] + list(SLA_STATES.items()))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.overdue.data and not self.sla.data:
            self.sla.data = "overdue"  # the select shows what the old checkbox asked for
        return ok

    def describe(self) -> list[tuple[str, str]]:
        """The chosen filters in words (label, value), for the «Параметры» sheet of an export."""
        out = []
        for f in (self.status, self.direction, self.institution, self.category, self.network, self.sla, self.q,
                  self.sort):
            if f.errors or f.data in (None, ""):
                continue
            if isinstance(f, SelectField):
                value = dict((str(k), str(v)) for k, v in f.choices).get(str(f.data), str(f.data))
            else:
                value = f"«{f.data}»"
            out.append((str(f.label.text), value))
        return out

    def to_filters(self) -> QueueFilters:
        """Filters from the valid fields; a field with an error is ignored (its message is shown)."""
        def ok(field):
            return not field.errors and field.data not in (None, "")

        status = self.status.data if ok(self.status) else "open"
        statuses = {"open": ["new", "assigned", "in_progress", "waiting_resident"], "all": []}.get(status, [status])
        return QueueFilters(
            statuses=statuses,
            direction_id=self.direction.data if ok(self.direction) else None,
            institution_id=self.institution.data if ok(self.institution) else None,
            category_id=self.category.data if ok(self.category) else None,
            network=self.network.data if ok(self.network) else None,
            overdue=bool(self.overdue.data),
            sla=self.sla.data if ok(self.sla) else None,
            q=(self.q.data or "") if ok(self.q) else "",
            sort=self.sort.data if ok(self.sort) else "new",
        )


class BulkForm(FlaskForm):
    # Choices are checked by the service, which says what is missing in words a moderator reads.
    action = CachedSelectField(_l("Действие"), default="", validate_choice=False)
    institution_id = CachedSelectField(_l("Учреждение"), coerce=_int_or_none, validate_choice=False)
    category_id = CachedSelectField(_l("Рубрика"), coerce=_int_or_none, validate_choice=False)
    reason = CachedSelectField(_l("Причина"), default="", validate_choice=False)
    merge_into = StringField(_l("С обращением №"), validators=[Optional(), Length(max=32)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.action.use(("bulk.action",), lambda: [("", _l("— действие —"))] + list(BULK_ACTIONS.items()))
        self.institution_id.use(("bulk.institution",),
                                lambda: institution_choices(_l("— учреждение —"), receiving_only=True))
        self.category_id.use(("bulk.category",), lambda: category_choices(_l("— рубрика —")))
        self.reason.use(("bulk.reason",), lambda: [("", _l("— причина —"))] + list(REJECT_REASONS.items()))
