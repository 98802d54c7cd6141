"""Who may see and change which ticket. The one place for these rules.

Every list, detail, export and board query goes through `visible_tickets()`;
every change goes through `ensure_can_work()` / `ensure_can_manage()`.
"""
from __future__ import annotations

from sqlalchemy import Select, false, true

from app.models import ControlOrder, Ticket, User
from app.services.errors import NotAllowed, NotFound

SEE_ALL = {"admin", "moderator", "head", "analyst"}
MANAGE = {"admin", "moderator"}  # assign, categorise, reject, merge, bulk actions
WORK = {"admin", "moderator", "executor"}  # status, notes, public replies


def ticket_condition(user: User):
    """SQL condition restricting tickets to those the user may see."""
    if user is None or not getattr(user, "is_authenticated", False):
        return false()
    if user.role in SEE_ALL:
        return true()
    if user.role == "executor" and user.institution_id is not None:
        return Ticket.institution_id == user.institution_id
    return false()


def ticket_condition_key(user: User) -> tuple:
    """What ticket_condition() reads of the user: equal keys, equal conditions (for memos of built statements)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return (False,)
    return True, user.role, user.institution_id


def visible_tickets(user: User, stmt: Select) -> Select:
    return stmt.where(ticket_condition(user))


def can_view(user: User, ticket: Ticket) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if user.role in SEE_ALL:
        return True
    return user.role == "executor" and user.institution_id is not None and ticket.institution_id == user.institution_id


def ensure_can_view(user: User, ticket: Ticket | None) -> Ticket:
    # An executor asking for another institution's ticket learns nothing: same answer as a missing one.
    if ticket is None or not can_view(user, ticket):
        raise NotFound("Обращение не найдено")
    return ticket


def can_manage(user: User) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.role in MANAGE)


def can_work(user: User, ticket: Ticket) -> bool:
    return can_view(user, ticket) and user.role in WORK


def ensure_can_manage(user: User) -> None:
    if not can_manage(user):
        raise NotAllowed("Это действие доступно только модератору")


def ensure_can_work(user: User, ticket: Ticket) -> None:
    ensure_can_view(user, ticket)
    if not can_work(user, ticket):
        raise NotAllowed("У вас нет права менять это обращение")


def sees_tickets(user: User) -> bool:
    """Whether the user sees any resident's ticket at all (the press service and smm specialists do not)."""
    return can_see_queue(user) or bool(user and getattr(user, "is_authenticated", False) and user.role == "executor"
                                       and user.institution_id is not None)


def can_see_queue(user: User) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.role in SEE_ALL)


# --- control orders (поручения главы) ------------------------------------------------------------
# Head and admin issue orders and judge them (accept the report, return, cancel); the institution's
# executors accept and report, moderators and admins may do that on the institution's behalf.
ORDER_DIRECT = {"head", "admin"}
ORDER_ON_BEHALF = {"moderator", "admin"}


def _authenticated(user: User | None) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def order_condition(user: User):
    """SQL condition restricting control orders to those the user may see."""
    if not _authenticated(user):
        return false()
    if user.role in SEE_ALL:
        return true()
    if user.role == "executor" and user.institution_id is not None:
        return ControlOrder.institution_id == user.institution_id
    return false()


def can_see_orders(user: User | None) -> bool:
    """May open the orders list at all (their own institution's, for an executor)."""
    if not _authenticated(user):
        return False
    return user.role in SEE_ALL or (user.role == "executor" and user.institution_id is not None)


def can_view_order(user: User | None, order: ControlOrder) -> bool:
    if not _authenticated(user):
        return False
    if user.role in SEE_ALL:
        return True
    return user.role == "executor" and user.institution_id is not None and order.institution_id == user.institution_id


def ensure_can_view_order(user: User | None, order: ControlOrder | None) -> ControlOrder:
    # Another institution's order: the same answer as a missing one.
    if order is None or not can_view_order(user, order):
        raise NotFound("Поручение не найдено")
    return order


def can_issue_orders(user: User | None) -> bool:
    """Issue an order, accept its report, return it, take it off control."""
    return _authenticated(user) and user.role in ORDER_DIRECT


def can_execute_order(user: User | None, order: ControlOrder) -> bool:
    """Accept an order and report on it: the order's institution, or moderators/admins on its behalf."""
    if not _authenticated(user):
        return False
    if user.role in ORDER_ON_BEHALF:
        return True
    return user.role == "executor" and user.institution_id is not None and order.institution_id == user.institution_id


# Personal data (152-ФЗ) in exports: a file leaves the system (it is mailed, copied, printed), so only the
# roles whose work needs to identify and contact residents get names, phones and e-mails in full.
SEE_PERSONAL_DATA = {"admin", "moderator"}


def can_see_personal_data(user: User) -> bool:
    """Whether exports show residents' personal data in full (else masked: «Иван П.», «+7 914 ***-**-67»).

    Yes — admin and moderator: they process appeals and answer residents, identify the same resident across
    tickets and merge them, so they are the operators' staff whose duty needs the data.
    No — head and analyst: they work with figures and problems, not with persons; by the minimisation principle
    of 152-ФЗ (art. 5: only the data the purpose needs) their files carry no identifying data.
    No — executor: the institution answers through the ticket page inside the system; an exported list of its
    tickets leaves the system and has no need for residents' contacts.
    """
    return bool(user and getattr(user, "is_authenticated", False) and user.role in SEE_PERSONAL_DATA)


BOARD = {"admin", "moderator", "head", "analyst"}  # the control board: city-wide figures, never one institution's


def can_see_board(user: User) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.role in BOARD)


RATING = {"admin", "head", "press", "analyst"}  # the participants' rating (issue 14)


def can_view_rating(user: User) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and user.role in RATING)


def sees_every_ticket(user: User) -> bool:
    """Whether ticket_condition() lets this user see every ticket (then city-wide figures may be shared)."""
    return bool(user and getattr(user, "is_authenticated", False) and user.role in SEE_ALL)


# --- participants of «Открытый муниципалитет» and their accounts (issue 12) -------------------------------
# The press service manages every participant and account; a participant's SMM specialist (role smm, bound to
# one institution) manages only its own accounts. Neither sees residents' tickets: they are not in SEE_ALL,
# MANAGE or WORK, so ticket_condition() is false for them.
PARTICIPANTS = {"admin", "press"}


def can_manage_participants(user: User | None) -> bool:
    """The participants' list, creating and editing participants (names, site, logo, flags)."""
    return _authenticated(user) and user.role in PARTICIPANTS


def ensure_can_manage_participants(user: User | None) -> None:
    if not can_manage_participants(user):
        raise NotAllowed("Раздел доступен администратору и пресс-службе")


def can_manage_accounts(user: User | None, institution) -> bool:
    """A participant's accounts and their credentials: admin and press for any, smm for its own only."""
    if not _authenticated(user) or institution is None:
        return False
    if user.role in PARTICIPANTS:
        return True
    return user.role == "smm" and user.institution_id is not None and user.institution_id == institution.id


def ensure_can_manage_accounts(user: User | None, institution):
    # Another participant's accounts: the same answer as a missing participant.
    if not can_manage_accounts(user, institution):
        raise NotFound("Участник не найден")
    return institution


def can_confirm_accounts(user: User | None) -> bool:
    """Confirm an account an smm specialist added (the app publishes to it only then): admin and press. Their own
    additions are confirmed at once."""
    return _authenticated(user) and user.role in PARTICIPANTS


def can_see_participants(user: User | None) -> bool:
    """The staff's «Участники» section: admin and press see the list; smm its own participant."""
    return can_manage_participants(user) or (_authenticated(user) and user.role == "smm"
                                              and user.institution_id is not None)


# --- cross-posting (issue 13) ---------------------------------------------------------------------------------
# An smm specialist publishes to its participant's accounts and sees its participant's posts; the press service and
# admins publish anywhere (whole directions too), see every post and approve the posts that wait for them.
PUBLISH_EVERYWHERE = {"admin", "press"}
APPROVE = {"admin", "press"}


def can_publish(user: User | None) -> bool:
    if not _authenticated(user):
        return False
    return user.role in PUBLISH_EVERYWHERE or (user.role == "smm" and user.institution_id is not None)


def publishes_everywhere(user: User | None) -> bool:
    return _authenticated(user) and user.role in PUBLISH_EVERYWHERE


def can_view_publication(user: User | None, pub) -> bool:
    """smm: its participant's posts (and its own); press and admin: all. Anyone else: none (a 404, as missing)."""
    if pub is None or not can_publish(user):
        return False
    if user.role in PUBLISH_EVERYWHERE:
        return True
    return pub.institution_id == user.institution_id or pub.author_id == user.id


def can_approve(user: User | None) -> bool:
    return _authenticated(user) and user.role in APPROVE


# --- the rating (issue 14) ------------------------------------------------------------------------------
ENCOURAGE = {"head"}  # «к поощрению»: the head's decision
CLEAR_JUMPS = {"head", "press", "admin"}  # «проверить накрутку» looked at and cleared


def can_mark_encouragement(user: User | None) -> bool:
    """Mark a participant of a frozen rating «к поощрению» (and take the mark off): the head only."""
    return _authenticated(user) and user.role in ENCOURAGE


def can_clear_jumps(user: User | None) -> bool:
    """Clear an implausible one-day rise so the growth is ranked again."""
    return _authenticated(user) and user.role in CLEAR_JUMPS
PUBLISH_TOP = {"head", "press", "admin"}  # the public «Лучшие участники» block on /participants: on/off, its period


def can_publish_top(user: User | None) -> bool:
    """Turn the public «Лучшие участники» block on or off and choose its period (month, quarter, year)."""
    return _authenticated(user) and user.role in PUBLISH_TOP


ROUTING_ADMIN = {"admin"}  # the learned router's page: its models, evaluation, retraining and override rules (issue 15)


def can_admin_routing(user: User | None) -> bool:
    return _authenticated(user) and user.role in ROUTING_ADMIN
