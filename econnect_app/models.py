"""All database tables (plain SQLModel tables).

Enumerations are stored as short strings, not database enums, so later issues can add values
without a type migration. Times are timezone-aware UTC (SQLModel's ``UTCDateTime`` columns refuse
naive values and return UTC on SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


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


class TokenPurpose(StrEnum):
    """What a one-time emailed token is for."""

    PASSWORD_RESET = "password_reset"
    INVITATION = "invitation"
    EMAIL_CONFIRMATION = "email_confirmation"


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
    kvk_number: str = Field(max_length=8, index=True)
    vat_number: str | None = Field(default=None, max_length=14)
    street: str = Field(default="", max_length=200)
    postal_code: str = Field(default="", max_length=16)
    city: str = Field(default="", max_length=100, index=True)
    country: str = Field(default="NL", max_length=2)
    identifier: str = Field(max_length=64, unique=True, index=True)
    activated_at: datetime | None = None
    receive_e_invoices: bool = False
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Membership(SQLModel, table=True):
    """A user's access to an organisation (users of a partner environment included)."""

    __table_args__ = (UniqueConstraint("organisation_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    organisation_id: int = Field(foreign_key="organisation.id", index=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    role: str = Field(default=MembershipRole.MEMBER.value, max_length=16)
    created_by_id: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow)


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
    """One login attempt, kept for throttling repeated failures per account."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, index=True)
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
    last_error: str | None = Field(default=None, sa_type=Text)
    environment_id: int | None = Field(default=None, foreign_key="environment.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    sent_at: datetime | None = None


class ActivityLog(SQLModel, table=True):
    """What happened, for whom; rows are never deleted."""

    __tablename__ = "activity_log"

    id: int | None = Field(default=None, primary_key=True)
    environment_id: int | None = Field(default=None, foreign_key="environment.id", index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="app_user.id")
    action: str = Field(max_length=64, index=True)
    summary: str = Field(max_length=500)
    subject_type: str | None = Field(default=None, max_length=64)
    subject_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow, index=True)
