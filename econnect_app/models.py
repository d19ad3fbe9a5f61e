"""All database tables (plain SQLModel tables).

Enumerations are stored as short strings, not database enums, so later issues can add values
without a type migration. Times are timezone-aware UTC (SQLModel's ``UTCDateTime`` columns refuse
naive values and return UTC on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def organisation_key(name: str) -> str:
    """An organisation name as requests compare it: lower case, spaces collapsed."""
    return " ".join(name.lower().split())


class Plan(StrEnum):
    """Subscription plans; partnerships need Basic or higher on the initiating side."""

    INVOICE_PORTAL = "Invoice Portal"
    BASIC = "Basic"
    PROFESSIONAL = "Professional"


class Role(StrEnum):
    """A user's role in their environment."""

    USER = "User"
    ADVANCED_USER = "Advanced user"
    ADMINISTRATOR = "Administrator"


class UserStatus(StrEnum):
    """Whether a user can log in."""

    ACTIVE = "Active"
    INVITED = "Invited"
    BLOCKED = "Blocked"


class MembershipRole(StrEnum):
    """A user's role in one organisation."""

    MEMBER = "Member"
    ADMINISTRATOR = "Administrator"


class MembershipStatus(StrEnum):
    """A membership of a partner user waits for that user to accept it; ended ones are history."""

    INVITED = "Invited"
    ACTIVE = "Active"
    ENDED = "Ended"


class MembershipEndReason(StrEnum):
    """Why a membership ended."""

    REMOVED = "removed"
    PARTNERSHIP_ENDED = "partnership_ended"
    DECLINED = "declined"


class TokenPurpose(StrEnum):
    """What a one-time emailed token is for."""

    PASSWORD_RESET = "password_reset"
    INVITATION = "invitation"
    EMAIL_CONFIRMATION = "email_confirmation"


class AuthorisationStatus(StrEnum):
    """Life of an authorisation request; only Pending ones have a working link."""

    PENDING = "Pending"
    ACCEPTED = "Accepted"
    DECLINED = "Declined"
    WITHDRAWN = "Withdrawn"
    EXPIRED = "Expired"


class PartnershipStatus(StrEnum):
    """A partnership is active until either side ends it."""

    ACTIVE = "Active"
    ENDED = "Ended"


class PartnershipOrigin(StrEnum):
    """How a partnership came about."""

    AUTHORISATION_REQUEST = "authorisation_request"
    RELATIONSHIP_REQUEST = "relationship_request"


class CostAllocation(StrEnum):
    """Which side pays for the client connection."""

    CLIENT = "Client"
    INTERMEDIARY = "Intermediary"


class RelationshipRequestStatus(StrEnum):
    """Life of a relationship request sent from Find partners."""

    PENDING = "Pending"
    ACCEPTED = "Accepted"
    DECLINED = "Declined"
    WITHDRAWN = "Withdrawn"
    EXPIRED = "Expired"


class OutboxStatus(StrEnum):
    """Delivery state of an outgoing email."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class Environment(SQLModel, table=True):
    """A tenant: one firm or one business, created at sign-up."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    plan: str = Field(default=Plan.INVOICE_PORTAL.value, max_length=32)
    onboarding_completed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # Automatic reminders to pending clients: every N days, at most M times (0 days: off).
    reminder_every_days: int = Field(default=7, sa_column_kwargs={"server_default": "7"})
    reminder_max: int = Field(default=2, sa_column_kwargs={"server_default": "2"})
    time_zone: str = Field(default="Europe/Amsterdam", max_length=64, sa_column_kwargs={"server_default": "Europe/Amsterdam"})


class User(SQLModel, table=True):
    """A person with a login, in exactly one environment."""

    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    name: str = Field(default="", max_length=200)
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    role: str = Field(default=Role.USER.value, max_length=32)
    is_relationship_manager: bool = False
    status: str = Field(default=UserStatus.ACTIVE.value, max_length=16)
    invited_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime | None = None
    last_login_at: datetime | None = None
    email_confirmed_at: datetime | None = None  # the primary address proved by an emailed link
    language: str | None = Field(default=None, max_length=8)  # "en" / "nl"; None: the browser's


class UserEmail(SQLModel, table=True):
    """An additional email address of a user, usable once confirmed."""

    __tablename__ = "user_email"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    email: str = Field(max_length=320, unique=True, index=True)
    confirmed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Organisation(SQLModel, table=True):
    """A company inside an environment; must be activated before use."""

    __table_args__ = (UniqueConstraint("environment_id", "kvk_number"),)

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    name: str = Field(max_length=200)
    kvk_number: str = Field(max_length=10, index=True)  # Dutch KvK (8 digits) or Belgian enterprise number (10)
    vat_number: str | None = Field(default=None, max_length=14)
    street: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=16)
    city: str = Field(default="", max_length=100, index=True)
    country: str = Field(default="NL", max_length=2)
    identifier: str = Field(max_length=64, unique=True, index=True)
    activated_at: datetime | None = None
    findable: bool = True  # listed in other environments' Find partners once activated
    receive_e_invoices: bool = False
    software_package_id: int | None = Field(default=None, foreign_key="software_package.id")
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class SoftwarePackage(SQLModel, table=True):
    """A client's accounting software, with set-up instructions shown next to the keys."""

    __tablename__ = "software_package"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=100, unique=True)
    instructions: str = Field(sa_type=Text)
    sort_order: int = 0


class Membership(SQLModel, table=True):
    """A user's access to an organisation (users of a partner environment included).

    Ended memberships are kept as history; a partial unique index allows one current (Invited or
    Active) membership per organisation and user.
    """

    __table_args__ = (
        Index(
            "uq_membership_current",
            "organisation_id",
            "user_id",
            unique=True,
            sqlite_where=text("status != 'Ended'"),
            postgresql_where=text("status != 'Ended'"),
        ),
        # "This user's membership of this organisation" (a list of organisations joins it per row):
        # without it SQLite, lacking statistics, walks all of the user's memberships for every row.
        Index("ix_membership_organisation_user_status", "organisation_id", "user_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    role: str = Field(default=MembershipRole.MEMBER.value, max_length=16)
    status: str = Field(default=MembershipStatus.ACTIVE.value, max_length=16, index=True)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    accepted_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    end_reason: str | None = Field(default=None, max_length=32)


class UserSession(SQLModel, table=True):
    """A login: the browser holds the token, the database only its SHA-256 hash."""

    __tablename__ = "user_session"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    user_agent: str = Field(default="", max_length=300)


class OneTimeToken(SQLModel, table=True):
    """An emailed single-use link (password reset, invitation, email confirmation)."""

    __tablename__ = "one_time_token"

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=32, index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    user_email_id: int | None = Field(default=None, foreign_key="user_email.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class LoginAttempt(SQLModel, table=True):
    """One login attempt, kept for throttling repeated failures per account and per client
    address (the browser's IP address as the configured proxy reports it)."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, index=True)
    client_address: str = Field(default="", max_length=64, index=True)
    succeeded: bool = False
    created_at: datetime = Field(default_factory=utcnow, index=True)


class OutboxMessage(SQLModel, table=True):
    """An email, written in the same transaction as the change that causes it."""

    __tablename__ = "outbox_message"

    id: int | None = Field(default=None, primary_key=True)
    template: str = Field(max_length=64, index=True)
    to_address: str = Field(max_length=320, index=True)
    cc: str = Field(default="", max_length=1000)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_type=Text)
    html_body: str = Field(sa_type=Text)
    status: str = Field(default=OutboxStatus.QUEUED.value, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_at: datetime | None = None
    claim_token: str | None = Field(default=None, max_length=64)  # only the claimant writes the outcome
    last_error: str | None = Field(default=None, sa_type=Text)
    environment_id: int | None = Field(default=None, foreign_key="environment.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sent_at: datetime | None = None


class ActivityLog(SQLModel, table=True):
    """What happened, for whom; rows are never deleted."""

    __tablename__ = "activity_log"
    # The activity page lists an environment's rows by time (newest first): this index serves
    # that order, so a page change reads one page instead of sorting the environment's log.
    __table_args__ = (Index("ix_activity_log_environment_id_created_at", "environment_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int | None = Field(default=None, foreign_key="environment.id", index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    action: str = Field(max_length=64, index=True)
    summary: str = Field(max_length=500)
    subject_type: str | None = Field(default=None, max_length=64)
    subject_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Partnership(SQLModel, table=True):
    """A symmetric link between two environments; one active partnership per pair.

    The pair is stored ordered (``environment_low_id`` < ``environment_high_id``) so a partial
    unique index can refuse a second active partnership whichever side starts it.
    """

    __table_args__ = (
        Index(
            "uq_partnership_active_pair",
            "environment_low_id",
            "environment_high_id",
            unique=True,
            sqlite_where=text("status = 'Active'"),
            postgresql_where=text("status = 'Active'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    environment_low_id: int = Field(foreign_key="environment.id", index=True)
    environment_high_id: int = Field(foreign_key="environment.id", index=True)
    initiator_environment_id: int = Field(foreign_key="environment.id")
    status: str = Field(default=PartnershipStatus.ACTIVE.value, max_length=16, index=True)
    created_via: str = Field(default=PartnershipOrigin.AUTHORISATION_REQUEST.value, max_length=32)
    cost_allocation: str = Field(default=CostAllocation.CLIENT.value, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    ended_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class PartnershipManager(SQLModel, table=True):
    """A relationship manager of one side, connected to a partnership (history kept)."""

    __tablename__ = "partnership_manager"
    __table_args__ = (
        Index(
            "uq_partnership_manager_current",
            "partnership_id",
            "user_id",
            unique=True,
            sqlite_where=text("disconnected_at IS NULL"),
            postgresql_where=text("disconnected_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    partnership_id: int = Field(foreign_key="partnership.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    connected_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    connected_at: datetime = Field(default_factory=utcnow)
    disconnected_at: datetime | None = None
    disconnected_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class RelationshipRequest(SQLModel, table=True):
    """A request from Find partners to start a partnership, answered by the other environment.

    The pair is stored ordered (like ``Partnership``) so a partial unique index allows one Pending
    request per pair of environments, whichever side sends it. Rows are never deleted.
    """

    __tablename__ = "relationship_request"
    __table_args__ = (
        Index(
            "uq_relationship_request_pending_pair",
            "environment_low_id",
            "environment_high_id",
            unique=True,
            sqlite_where=text("status = 'Pending'"),
            postgresql_where=text("status = 'Pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    requester_environment_id: int = Field(foreign_key="environment.id", index=True)
    requested_by_id: int = Field(foreign_key="app_user.id")
    target_environment_id: int = Field(foreign_key="environment.id", index=True)
    target_organisation_id: int = Field(foreign_key="organisation.id")
    environment_low_id: int = Field(foreign_key="environment.id")
    environment_high_id: int = Field(foreign_key="environment.id")
    message: str = Field(default="", sa_type=Text)
    status: str = Field(default=RelationshipRequestStatus.PENDING.value, max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    expires_at: datetime
    responded_at: datetime | None = None
    responded_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    partnership_id: int | None = Field(default=None, foreign_key="partnership.id")


class RelationshipRequestLink(SQLModel, table=True):
    """One emailed accept/decline link of a relationship request, for one recipient (hash only)."""

    __tablename__ = "relationship_request_link"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="relationship_request.id", index=True)
    user_id: int = Field(foreign_key="app_user.id")
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    voided_at: datetime | None = None


class AuthorisationRequest(SQLModel, table=True):
    """An accountant's request for access to a client's organisation.

    Rows are never deleted. Its emailed links are ``AuthorisationLink`` rows; only the newest
    link of a Pending request works. A partial unique index allows one Pending request per client
    email and organisation (``organisation_key``: the name in lower case, spaces collapsed) per
    requesting environment: an owner with two companies gets two requests.
    """

    __tablename__ = "authorisation_request"
    __table_args__ = (
        Index(
            "uq_authorisation_request_pending_email_organisation",
            "environment_id",
            "client_email",
            "organisation_key",
            unique=True,
            sqlite_where=text("status = 'Pending'"),
            postgresql_where=text("status = 'Pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    requested_by_id: int = Field(foreign_key="app_user.id")
    client_name: str = Field(max_length=200)
    client_email: str = Field(max_length=320, index=True)
    organisation_name: str = Field(max_length=200)
    organisation_key: str = Field(default="", max_length=200)
    software_package_id: int = Field(foreign_key="software_package.id")
    status: str = Field(default=AuthorisationStatus.PENDING.value, max_length=16, index=True)
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow, index=True)
    last_sent_at: datetime = Field(default_factory=utcnow)
    send_count: int = 1
    reminders_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    responded_at: datetime | None = None
    responded_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    decline_reason: str | None = Field(default=None, sa_type=Text)
    replaced_by_id: int | None = Field(default=None, foreign_key="authorisation_request.id")
    client_environment_id: int | None = Field(default=None, foreign_key="environment.id", index=True)
    client_organisation_id: int | None = Field(default=None, foreign_key="organisation.id")
    partnership_id: int | None = Field(default=None, foreign_key="partnership.id")


class AuthorisationLink(SQLModel, table=True):
    """One emailed activation link (stored as a hash). Kept after use, so a page can say why an
    old link no longer works (replaced, withdrawn, expired, already answered)."""

    __tablename__ = "authorisation_link"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="authorisation_request.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    voided_at: datetime | None = None


class KeySet(SQLModel, table=True):
    """A named set of an environment's connection keys (e.g. one per software installation): a
    public App key and a Secret stored only as a hash.

    After a rotation the previous Secret's hash stays valid until ``previous_secret_valid_until``
    (a grace period), so the software using it can be updated without an outage. A revoked set is
    kept (history) and works no more; a partial unique index allows one current set per name.
    """

    __tablename__ = "key_set"
    __table_args__ = (
        Index(
            "uq_key_set_current_name",
            "environment_id",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    name: str = Field(default="Default", max_length=100)
    app_key: str = Field(max_length=64, unique=True, index=True)
    secret_hash: str = Field(max_length=64)
    previous_secret_hash: str | None = Field(default=None, max_length=64)
    previous_secret_valid_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class Notification(SQLModel, table=True):
    """An in-app message for the users of an environment (or one user)."""

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    user_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=64)
    message: str = Field(max_length=500)
    link: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class NotificationRead(SQLModel, table=True):
    """One user has read one notification (read state is per user, not per environment)."""

    __tablename__ = "notification_read"

    notification_id: int = Field(foreign_key="notification.id", primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True, index=True)
    read_at: datetime = Field(default_factory=utcnow)


def _search_key_type(length: int) -> String:
    """Text compared byte by byte on both databases (``COLLATE "C"`` on PostgreSQL), so a prefix
    range ``key >= :q AND key < :q_next`` is served by a B-tree and sorts like SQLite's."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class OrganisationSearch(SQLModel, table=True):
    """Find partners: the search keys of one activated, findable organisation.

    Derived data, kept in step with ``Organisation`` in the same transaction by
    ``services/find_partners.py`` (which also explains the keys). Rows exist only for organisations
    other environments may find; the index on ``name_key`` is in result order and covers the scans.
    """

    __tablename__ = "organisation_search"
    __table_args__ = (
        Index("ix_organisation_search_name_order", "name_key", "organisation_id", "environment_id", "city_key"),
    )

    organisation_id: int = Field(
        primary_key=True,
        foreign_key="organisation.id",
        ondelete="CASCADE",
        sa_column_kwargs={"autoincrement": False},
    )
    environment_id: int
    name_key: str = Field(sa_type=_search_key_type(400))
    city_key: str = Field(sa_type=_search_key_type(200))
    kvk_number: str = Field(max_length=10, index=True)  # Dutch KvK (8 digits) or Belgian enterprise number (10)


class OrganisationSearchTerm(SQLModel, table=True):
    """Find partners: an organisation's name or city key from one of its words on (word prefixes).

    ``source`` is ``name`` (every word of the name but the first) or ``city`` (every word of the
    city). The lookup index holds every column a prefix range needs, so it is read alone; the
    primary key starts with the organisation, which is how the rows are replaced.
    """

    __tablename__ = "organisation_search_term"
    __table_args__ = (
        Index(
            "ix_organisation_search_term_lookup", "source", "term", "name_key", "organisation_id", "environment_id"
        ),
        {"sqlite_with_rowid": False},
    )

    organisation_id: int = Field(
        primary_key=True,
        foreign_key="organisation_search.organisation_id",
        ondelete="CASCADE",
        sa_column_kwargs={"autoincrement": False},
    )
    source: str = Field(primary_key=True, max_length=4)
    term: str = Field(primary_key=True, sa_type=_search_key_type(100))
    environment_id: int
    name_key: str = Field(sa_type=_search_key_type(400))


# --- Documents, Client Connect, accounting package configurations and exports (issue 9) ---------


class DocumentKind(StrEnum):
    """What a document is; decides which online connection exports it."""

    INVOICE = "invoice"
    STATEMENT = "statement"


class DocumentFormat(StrEnum):
    """A document's file type, found from its content (not its name)."""

    PDF = "pdf"
    UBL = "ubl"


class ConnectionStatus(StrEnum):
    """An app connected through a Client Connect link."""

    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"


class ConfigurationTarget(StrEnum):
    """Where an accounting package configuration delivers documents."""

    SFTP = "sftp"
    DROPBOX = "dropbox"
    OCTOPUS = "octopus"


class DeliveryStatus(StrEnum):
    """A document's delivery to one configuration."""

    PENDING = "Pending"
    DELIVERING = "Delivering"
    RETRYING = "Retrying"
    DELIVERED = "Delivered"
    FAILED = "Failed"


class Document(SQLModel, table=True):
    """An invoice or bank statement of an organisation (PDF or UBL 2.1 XML).

    The bytes are in the document store (``services/document_store.py``) under ``storage_key``;
    the database holds the metadata and the SHA-256 checksum. Documents are never deleted.
    """

    __table_args__ = (Index("ix_document_organisation_created", "organisation_id", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id")
    kind: str = Field(max_length=16)
    format: str = Field(max_length=8)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int
    sha256: str = Field(max_length=64)
    storage_key: str = Field(max_length=300, unique=True)
    uploaded_by_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    uploaded_by_key_set_id: int | None = Field(default=None, foreign_key="key_set.id")
    created_at: datetime = Field(default_factory=utcnow)


class ClientConnectLink(SQLModel, table=True):
    """An accountant environment's Client Connect link for one organisation it manages.

    Only the SHA-256 hash of the token is stored; the raw link is kept encrypted so the page can
    show it again (``token_encrypted``). Regenerating revokes the current row and adds a new one; a
    partial unique index allows one current link per (organisation, environment).
    """

    __tablename__ = "client_connect_link"
    __table_args__ = (
        Index(
            "uq_client_connect_link_current",
            "organisation_id",
            "environment_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    token_encrypted: str = Field(sa_type=Text)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None
    revoked_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class AppConnection(SQLModel, table=True):
    """A software package connected to an organisation by its owner through a Client Connect link."""

    __tablename__ = "app_connection"

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)  # the firm whose link it was
    link_id: int | None = Field(default=None, foreign_key="client_connect_link.id")
    software_package_id: int = Field(foreign_key="software_package.id")
    details: str = Field(default="{}", sa_type=Text)  # JSON: what the package needs (administration number, ...)
    connected_by_name: str = Field(max_length=200)
    connected_by_email: str = Field(max_length=320)
    status: str = Field(default=ConnectionStatus.CONNECTED.value, max_length=16, index=True)
    connected_at: datetime = Field(default_factory=utcnow)
    disconnected_at: datetime | None = None
    disconnected_by_id: int | None = Field(default=None, foreign_key="app_user.id")


class AccountingConfiguration(SQLModel, table=True):
    """An accountant environment's export target (seed 004): SFTP, Dropbox or Octopus.

    Credentials (the SFTP password, OAuth tokens) are stored encrypted (``crypto.py``) in
    ``credentials_encrypted`` as one JSON document, never sent to the browser.
    """

    __tablename__ = "accounting_configuration"

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    name: str = Field(max_length=100)
    target: str = Field(max_length=16)
    sftp_host: str = Field(default="", max_length=255)
    sftp_port: int = 22
    sftp_username: str = Field(default="", max_length=100)
    sftp_host_key: str = Field(default="", sa_type=Text)  # recorded on first use (OpenSSH format)
    dossier_id: str = Field(default="", max_length=100)  # Octopus
    dossier_name: str = Field(default="", max_length=200)
    account_name: str = Field(default="", max_length=200)  # the signed-in OAuth account, as shown
    credentials_encrypted: str = Field(default="", sa_type=Text)
    token_expires_at: datetime | None = None
    exports_invoices: bool = True
    exports_statements: bool = False
    terms_accepted_at: datetime | None = None
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    archived_at: datetime | None = None


class OAuthAuthorisation(SQLModel, table=True):
    """A pending "Sign in with Dropbox/Octopus": the ``state`` (hashed) and the PKCE verifier
    (encrypted) until the provider redirects back; single use, expires."""

    __tablename__ = "oauth_authorisation"

    id: int | None = Field(default=None, primary_key=True)
    state_hash: str = Field(max_length=64, unique=True, index=True)
    code_verifier_encrypted: str = Field(sa_type=Text)
    target: str = Field(max_length=16)
    environment_id: int = Field(foreign_key="environment.id", index=True)
    user_id: int = Field(foreign_key="app_user.id")
    configuration_id: int | None = Field(default=None, foreign_key="accounting_configuration.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class ExportSetting(SQLModel, table=True):
    """One client organisation's accounting package connection, as its accountant set it (seed 004)."""

    __tablename__ = "export_setting"
    __table_args__ = (UniqueConstraint("organisation_id", "environment_id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)  # the accountant's
    share_documents: bool = False
    configuration_id: int | None = Field(default=None, foreign_key="accounting_configuration.id")
    invoices_active_since: datetime | None = None
    statements_active_since: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class DocumentDelivery(SQLModel, table=True):
    """One document's delivery to one configuration; claimed atomically by one worker at a time,
    as the outbox is. The delivery log of a document is its rows here plus ``attempts``/``last_error``."""

    __tablename__ = "document_delivery"
    __table_args__ = (UniqueConstraint("document_id", "configuration_id"),)

    id: int | None = Field(default=None, primary_key=True)
    document_id: int = Field(foreign_key="document.id", index=True)
    configuration_id: int = Field(foreign_key="accounting_configuration.id", index=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    environment_id: int = Field(foreign_key="environment.id", index=True)  # the accountant's
    status: str = Field(default=DeliveryStatus.PENDING.value, max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_at: datetime | None = None
    claim_token: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, sa_type=Text)
    remote_path: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
