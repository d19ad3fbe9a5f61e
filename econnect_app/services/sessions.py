"""Logging in and out, and the server-side sessions behind every signed-in request.

The browser holds a fresh 256-bit token per login; the database stores only its SHA-256 hash,
with an absolute expiry, an idle timeout (``last_seen_at``) and a revocation time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, col, select

from econnect_app import i18n, security
from econnect_app.models import User, UserSession, UserStatus, utcnow
from econnect_app.services import caller, login_throttle
from econnect_app.services.errors import AccountBlocked, InvalidCredentials, ValidationFailed
from econnect_app.services.validation import FieldError, clean_email
from econnect_app.settings import get_settings

# Writing last_seen_at on every request would turn each page view into a write; once a minute
# is precise enough for an idle timeout counted in hours.
LAST_SEEN_WRITE_INTERVAL = timedelta(minutes=1)
USER_AGENT_MAX_LENGTH = 300
# No password is longer than validation.PASSWORD_MAX_LENGTH; 1,024 characters are at most 4,096 bytes of
# UTF-8, what the hasher accepts. A longer one is not checked (the same work is done with an empty one).
LOGIN_PASSWORD_MAX_LENGTH = 1024


class SessionEnd(StrEnum):
    """Why a login ended: what a tab that had it is told (in English, compared as it is; the tab
    translates it: ``i18n.translate(language, value)``)."""

    LOGGED_OUT = i18n.N_("You have been logged out.")
    EXPIRED = i18n.N_("Your session has expired. Log in again.")
    BLOCKED = i18n.N_("Your account has been blocked.")


def log_in(
    session: Session, *, email: str, password: str, user_agent: str = ""
) -> tuple[User, str]:
    """Check an email and password and start a session; returns the user and the raw token.

    Every input answers the same ``InvalidCredentials`` after the same work (one argon2
    verification) unless it logs in: an unknown address, a wrong password, a password longer than
    anyone's, a value that is not text. Only an empty field gets its own message (``ValidationFailed``).
    Each attempt is recorded with the caller's client address, and committed even when this raises,
    so failures are throttled per client and per account (``login_throttle``): a throttled attempt
    is refused (``TooManyAttempts``) before its password is checked. A stored hash of an older cost
    is replaced at a successful log-in.
    """
    email_typed = email.strip() if isinstance(email, str) else email
    errors: dict[str, str] = {}
    if email_typed is None or email_typed == "":
        errors["email"] = i18n.gettext("Enter your email address.")
    if password is None or password == "":
        errors["password"] = i18n.gettext("Enter your password.")
    if errors:
        raise ValidationFailed(errors)

    normalised_email = _normalise_login_email(email_typed) if isinstance(email_typed, str) else ""
    attempt = login_throttle.record_attempt(session, email=normalised_email, client=caller.client_address())

    checkable = isinstance(password, str) and len(password) <= LOGIN_PASSWORD_MAX_LENGTH
    user = session.exec(select(User).where(User.email == normalised_email)).first() if checkable else None
    password_ok = security.verify_password(
        password if checkable else "", user.password_hash if user is not None else None
    )
    if user is None or not password_ok:
        raise InvalidCredentials()  # the attempt is already recorded as failed
    if user.status == UserStatus.BLOCKED.value:
        raise AccountBlocked()
    if user.status != UserStatus.ACTIVE.value:
        raise InvalidCredentials()

    now = utcnow()
    login_throttle.mark_succeeded(session, attempt)
    if user.password_hash and security.password_needs_rehash(user.password_hash):
        user.password_hash = security.hash_password(password)
    user.last_login_at = now
    session.add(user)
    raw_token = add_session(session, user=user, user_agent=user_agent, now=now)
    session.commit()
    return user, raw_token


def start_session(session: Session, *, user: User, user_agent: str = "") -> str:
    """Create a session for a user (after sign-up, for instance), commit, and return its token."""
    raw_token = add_session(session, user=user, user_agent=user_agent)
    session.commit()
    return raw_token


def authenticate(session: Session, *, token: str | None, touch: bool = True) -> User | None:
    """The Active user a session token belongs to, or None when the session is not valid.

    Not valid: missing, unknown or revoked token, past its absolute expiry, idle for longer than
    the idle timeout, or a user who is no longer Active. A valid session's ``last_seen_at`` is
    refreshed (written at most once a minute) unless ``touch`` is False (a server push is not
    activity of the user: it must not keep an idle session alive).
    """
    if not token:
        return None
    user_session = _session_of_token(session, token)
    if user_session is None or user_session.revoked_at is not None:
        return None
    now = utcnow()
    if user_session.expires_at <= now:
        return None
    idle_limit = timedelta(minutes=get_settings().session_idle_minutes)
    if now - user_session.last_seen_at > idle_limit:
        return None
    user = session.get(User, user_session.user_id)
    if user is None or user.status != UserStatus.ACTIVE.value:
        return None
    if touch and now - user_session.last_seen_at >= LAST_SEEN_WRITE_INTERVAL:
        user_session.last_seen_at = now
        session.add(user_session)
        session.commit()
    return user


def log_out(session: Session, *, token: str | None) -> None:
    """Revoke the session of a token; doing it twice, or with no token, is harmless."""
    if not token:
        return
    user_session = _session_of_token(session, token)
    if user_session is None or user_session.revoked_at is not None:
        return
    user_session.revoked_at = utcnow()
    session.add(user_session)
    session.commit()


def why_session_ended(session: Session, *, token: str) -> SessionEnd:
    """Why the login of a token that no longer authenticates has ended (read-only)."""
    user_session = _session_of_token(session, token)
    user = session.get(User, user_session.user_id) if user_session is not None else None
    if user is not None and user.status == UserStatus.BLOCKED.value:
        return SessionEnd.BLOCKED
    if user_session is not None and user_session.revoked_at is None:
        return SessionEnd.EXPIRED
    return SessionEnd.LOGGED_OUT


def _session_of_token(session: Session, token: str) -> UserSession | None:
    return session.exec(
        select(UserSession).where(UserSession.token_hash == security.hash_token(token))
    ).first()


def revoke_all_sessions(session: Session, *, user: User) -> int:
    """Revoke every live session of a user in the caller's transaction (no commit).

    Used on password change and reset and when a user is blocked. Returns how many were revoked.
    """
    now = utcnow()
    live_sessions = session.exec(
        select(UserSession).where(
            UserSession.user_id == _user_id(user),
            col(UserSession.revoked_at).is_(None),
            UserSession.expires_at > now,
        )
    ).all()
    for user_session in live_sessions:
        user_session.revoked_at = now
        session.add(user_session)
    return len(live_sessions)


def add_session(
    session: Session, *, user: User, user_agent: str = "", now: datetime | None = None
) -> str:
    """Add a session row to the caller's transaction (no commit) and return the raw token."""
    now = now or utcnow()
    raw_token, token_hash = security.new_token()
    session.add(
        UserSession(
            user_id=_user_id(user),
            token_hash=token_hash,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(hours=get_settings().session_absolute_hours),
            user_agent=(user_agent or "")[:USER_AGENT_MAX_LENGTH],
        )
    )
    return raw_token


def _normalise_login_email(email: str) -> str:
    """The address as stored at sign-up; anything unparsable is just trimmed and lower-cased.

    PostgreSQL cannot store a NUL character (SQLite can): it becomes U+FFFD, so the attempt is
    still recorded and matches no real address.
    """
    try:
        return clean_email(email)
    except FieldError:
        return email.strip().lower().replace("\x00", "\ufffd")[:320]


def _user_id(user: User) -> int:
    if user.id is None:
        raise ValueError("The user has not been saved yet.")
    return user.id
