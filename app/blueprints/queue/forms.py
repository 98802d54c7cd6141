"""Queue filter form (GET, no CSRF) and bulk-action form."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from app.extensions import db
from app.htmx import parse_id
from app.models import NETWORK_LABELS, REJECT_REASONS, STATUS_LABELS, Category, Direction, Institution
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


def institution_choices(blank: str, receiving_only: bool = False):
    """(id, short name) of the institutions; `receiving_only`: only those that receive residents' appeals (the
    choices of an assignment — a participant that only publishes is never sent a ticket)."""
    stmt = select(Institution.id, Institution.short_name).order_by(Institution.short_name)
    if receiving_only:
        stmt = stmt.where(Institution.receives_appeals.is_(True))
    rows = db.session.execute(stmt)
    return [("", blank)] + [(str(i), n) for i, n in rows]


def category_choices(blank: str):
    rows = db.session.execute(select(Category.id, Category.name).order_by(Category.name))
    return [("", blank)] + [(str(i), n) for i, n in rows]


class QueueFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(_l("Статус"), default="open", validate_choice=True)
    direction = SelectField(_l("Направление"), coerce=_int_or_none, validate_choice=True)
    institution = SelectField(_l("Учреждение"), coerce=_int_or_none, validate_choice=True)
    category = SelectField(_l("Рубрика"), coerce=_int_or_none, validate_choice=True)
    network = SelectField(_l("Сеть"), default="", validate_choice=True)
    overdue = BooleanField(_l("Только просроченные"))  # the old URL (overdue=y) = sla=overdue
    sla = SelectField(_l("Срок"), default="", validate_choice=True)
    q = StringField(_l("Поиск"), validators=[Optional(), Length(max=200, message=_l("Не больше 200 символов"))])
    sort = SelectField(_l("Порядок"), default="new", validate_choice=True)
    cursor = HiddenField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.status.choices = list(STATUS_GROUPS.items()) + list(STATUS_LABELS.items())
        dirs = db.session.execute(select(Direction.id, Direction.name).order_by(Direction.sort_order))
        self.direction.choices = [("", _l("Все направления"))] + [(str(i), n) for i, n in dirs]
        self.institution.choices = institution_choices(_l("Все учреждения"))
        self.category.choices = category_choices(_l("Все рубрики"))
        self.network.choices = [("", _l("Все сети"))] + list(NETWORK_LABELS.items())
        self.sort.choices = list(SORTS.items())
        self.sla.choices = [("", _l("Любой срок"))] + list(SLA_STATES.items())

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
    action = SelectField(_l("Действие"), choices=[("", _l("— действие —"))] + list(BULK_ACTIONS.items()),
                         default="", validate_choice=False)
    institution_id = SelectField(_l("Учреждение"), coerce=_int_or_none, validate_choice=False)
    category_id = SelectField(_l("Рубрика"), coerce=_int_or_none, validate_choice=False)
    reason = SelectField(_l("Причина"), choices=[("", _l("— причина —"))] + list(REJECT_REASONS.items()),
                         default="", validate_choice=False)
    merge_into = StringField(_l("С обращением №"), validators=[Optional(), Length(max=32)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.institution_id.choices = institution_choices(_l("— учреждение —"), receiving_only=True)
        self.category_id.choices = category_choices(_l("— рубрика —"))
