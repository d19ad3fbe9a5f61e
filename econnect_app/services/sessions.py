"""Logging in and out, and the server-side sessions behind every signed-in request.

The browser holds a fresh 256-bit token per login; the database stores only its SHA-256 hash,
with an absolute expiry, an idle timeout (``last_seen_at``) and a revocation time.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from econnect_app import security
from econnect_app.models import LoginAttempt, User, UserSession, UserStatus, utcnow
from econnect_app.services.errors import (
    AccountBlocked,
    InvalidCredentials,
    TooManyAttempts,
    ValidationFailed,
)
from econnect_app.services.validation import FieldError, clean_email
from econnect_app.settings import get_settings

# Writing last_seen_at on every request would turn each page view into a write; once a minute
# is precise enough for an idle timeout counted in hours.
LAST_SEEN_WRITE_INTERVAL = timedelta(minutes=1)
USER_AGENT_MAX_LENGTH = 300


def log_in(
    session: Session, *, email: str, password: str, user_agent: str = ""
) -> tuple[User, str]:
    """Check an email and password and start a session; returns the user and the raw token.

    Unknown email and wrong password raise the same ``InvalidCredentials`` after the same
    amount of work. Each attempt that checks a password is recorded (and committed, even when
    this raises) so repeated failures for one account can be throttled.
    """
    email_typed = (email or "").strip()
    errors: dict[str, str] = {}
    if not email_typed:
        errors["email"] = "Enter your email address."
    if not password:
        errors["password"] = "Enter your password."
    if errors:
        raise ValidationFailed(errors)

    normalised_email = _normalise_login_email(email_typed)
    now = utcnow()
    _refuse_when_throttled(session, email=normalised_email, now=now)

    user = session.exec(select(User).where(User.email == normalised_email)).first()
    password_ok = security.verify_password(password, user.password_hash if user else None)
    if user is None or not password_ok:
        _record_attempt_and_commit(session, email=normalised_email, succeeded=False)
        raise InvalidCredentials()
    if user.status == UserStatus.BLOCKED.value:
        _record_attempt_and_commit(session, email=normalised_email, succeeded=False)
        raise AccountBlocked()
    if user.status != UserStatus.ACTIVE.value:
        _record_attempt_and_commit(session, email=normalised_email, succeeded=False)
        raise InvalidCredentials()

    session.add(LoginAttempt(email=normalised_email, succeeded=True, created_at=now))
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
    user_session = session.exec(
        select(UserSession).where(UserSession.token_hash == security.hash_token(token))
    ).first()
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
    user_session = session.exec(
        select(UserSession).where(UserSession.token_hash == security.hash_token(token))
    ).first()
    if user_session is None or user_session.revoked_at is not None:
        return
    user_session.revoked_at = utcnow()
    session.add(user_session)
    session.commit()


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


def _refuse_when_throttled(session: Session, *, email: str, now: datetime) -> None:
    """Raise TooManyAttempts when the account has too many recent failed log-ins.

    Refused attempts are not recorded, so the lock lifts when the oldest failure leaves the
    window, exactly as the message says.
    """
    settings = get_settings()
    window = timedelta(minutes=settings.login_failure_window_minutes)
    failure_times = session.exec(
        select(LoginAttempt.created_at)
        .where(
            LoginAttempt.email == email,
            LoginAttempt.succeeded == False,  # noqa: E712
            LoginAttempt.created_at > now - window,
        )
        .order_by(col(LoginAttempt.created_at))
    ).all()
    if len(failure_times) < settings.login_max_failures:
        return
    # The lock lifts once fewer than the maximum remain: normally when the oldest one leaves.
    lifting_failure = failure_times[len(failure_times) - settings.login_max_failures]
    seconds_left = (lifting_failure + window - now).total_seconds()
    minutes = max(1, math.ceil(seconds_left / 60))
    unit = "minute" if minutes == 1 else "minutes"
    raise TooManyAttempts(
        f"Too many failed log-in attempts for this account. Try again in {minutes} {unit}."
    )


def _record_attempt_and_commit(session: Session, *, email: str, succeeded: bool) -> None:
    """Keep a log-in attempt even though the caller is about to raise."""
    session.add(LoginAttempt(email=email, succeeded=succeeded))
    session.commit()


def _user_id(user: User) -> int:
    if user.id is None:
        raise ValueError("The user has not been saved yet.")
    return user.id
