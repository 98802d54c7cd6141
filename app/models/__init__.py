"""All models, re-exported so Alembic and the app see one metadata."""
from sqlalchemy import event

from app.models.base import UTCDateTime, fit_object, utcnow
from app.models.board import BoardCategoryRollup, BoardDirty, BoardRollup, BoardRollupState, BoardSnapshot
from app.models.calendar import CALENDAR_KIND_LABELS, CALENDAR_KINDS, CalendarDay
from app.models.control import CONTROL_OPEN_STATES, CONTROL_STATES, ControlOrder, ControlOrderEvent
from app.models.escalation import SLA_MARK_KINDS, Notification, SlaMark
from app.models.hotspots import HotSpot, HotSpotTicket
from app.models.org import (
    ACCOUNT_NETWORKS,
    NETWORK_LABELS,
    NETWORKS,
    Account,
    AccountSnapshot,
    Direction,
    Institution,
    Post,
    slugify,
)
from app.models.people import ROLE_LABELS, ROLES, LoginAttempt, Resident, User
from app.models.publishing import DELIVERY_STATES, PUBLICATION_STATES, Delivery, Publication, PublicationPhoto
from app.models.rating import GrowthClearance, RatingMark, RatingSnapshot, RatingSnapshotRow
from app.models.routing import ROUTING_TARGETS, RoutingModel, RoutingRule
from app.models.settings import DataVersion, SiteSetting
from app.models.streets import RepeatSuggestion, Street
from app.models.ticket import (
    MESSAGE_KINDS,
    OPEN_STATUSES,
    PRIORITY_LABELS,
    REGIME_LABELS,
    REGIMES,
    REJECT_REASONS,
    STATUS_LABELS,
    STATUSES,
    Category,
    IntakeRejection,
    Message,
    RefusedRequest,
    Reply,
    SlaPolicy,
    Ticket,
    TicketCounter,
    TicketEvent,
    VerdictAnswer,
)
from app.models.workspace import WorkspaceLateCount

# Every String(n) column of the tables intake writes takes a network's value of any length (app/models/base.py).
INTAKE_MODELS = (Message, Resident, Ticket, TicketEvent, Reply, HotSpot, HotSpotTicket, IntakeRejection, VerdictAnswer)
for _model in INTAKE_MODELS:
    event.listen(_model, "before_insert", fit_object)
    event.listen(_model, "before_update", fit_object)

__all__ = [
    "WorkspaceLateCount",
    "CALENDAR_KINDS", "CALENDAR_KIND_LABELS", "CalendarDay",
    "UTCDateTime", "utcnow", "NETWORKS", "NETWORK_LABELS", "Direction", "Institution", "Account",
    "AccountSnapshot", "ACCOUNT_NETWORKS", "Post", "slugify", "ROLES", "ROLE_LABELS", "User", "LoginAttempt",
    "Resident", "STATUSES",
    "STATUS_LABELS", "OPEN_STATUSES", "REJECT_REASONS", "PRIORITY_LABELS", "MESSAGE_KINDS", "SlaPolicy",
    "REGIME_LABELS", "REGIMES",
    "Category", "IntakeRejection", "RefusedRequest",
    "TicketCounter", "Ticket", "Message", "TicketEvent", "Reply", "ControlOrder",
    "CONTROL_STATES", "CONTROL_OPEN_STATES", "ControlOrderEvent", "HotSpot", "HotSpotTicket", "BoardSnapshot",
    "BoardRollup", "BoardCategoryRollup", "BoardDirty", "BoardRollupState",
    "SLA_MARK_KINDS", "SlaMark", "Notification", "INTAKE_MODELS", "VerdictAnswer",
    "PUBLICATION_STATES", "DELIVERY_STATES", "Publication", "PublicationPhoto", "Delivery",
    "RatingSnapshot", "RatingSnapshotRow", "RatingMark", "GrowthClearance", "SiteSetting", "DataVersion",
    "Street", "RepeatSuggestion",
    "ROUTING_TARGETS", "RoutingModel", "RoutingRule",
]
