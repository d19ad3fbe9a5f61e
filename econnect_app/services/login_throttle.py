"""The log-in throttle: failed log-ins counted per client address and per account, from the
``login_attempt`` rows (shared by every worker), in a way that does not let a stranger lock the
owner out.

Within the failure window (``login_failure_window_minutes``) an attempt is refused, without its
password being checked, when:

1. **this client failed for this account** ``login_max_failures`` times (it may be the owner
   mistyping, or someone guessing from one address: either way only that address is held back);
2. **the account failed** ``login_max_failures`` times from all addresses together and this client
   is one of them (it failed for the account in the window too), unless it logged in to the
   account successfully within ``login_known_client_days``. A guess spread over many addresses
   gets one try per address per window, while the owner, who has not failed, or who logs in from
   a known address, is not held back;
3. **this client failed** ``login_client_max_failures`` times for any accounts (trying many
   accounts from one address), unless it logged in to this account within
   ``login_known_client_days`` (colleagues behind one office address keep their own accounts).

No gap between checking and counting: an attempt is recorded as a failure and committed before the
counts are read, and the counts include every attempt still in flight, so of two simultaneous
attempts the later reader always sees the other. A refused attempt's row is deleted again (it
does not prolong the wait it was told); one that then succeeds is marked as succeeded.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, func, or_
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.models import LoginAttempt, utcnow
from econnect_app.services.throttle import Limited
from econnect_app.settings import get_settings

# Marked for translation; ``throttle.Limited`` translates them.
ACCOUNT_REASON = i18n.N_("Too many failed log-in attempts for this account.")
CLIENT_REASON = i18n.N_("Too many failed log-in attempts from your network.")


def record_attempt(session: Session, *, email: str, client: str) -> LoginAttempt:
    """Record a log-in attempt (as failed until ``mark_succeeded``) and commit; raise ``Limited``
    (deleting the record again) when a rule above refuses it."""
    now = utcnow()
    attempt = LoginAttempt(email=email, client_address=client, succeeded=False, created_at=now)
    session.add(attempt)
    session.commit()
    try:
        _refuse_when_throttled(session, attempt=attempt, now=now)
    except Limited:
        session.execute(delete(LoginAttempt).where(col(LoginAttempt.id) == attempt.id))
        session.commit()
        raise
    return attempt


def mark_succeeded(session: Session, attempt: LoginAttempt) -> None:
    """The attempt logged in (in the caller's transaction)."""
    attempt.succeeded = True
    session.add(attempt)


def _refuse_when_throttled(session: Session, *, attempt: LoginAttempt, now: datetime) -> None:
    settings = get_settings()
    window_start = now - timedelta(minutes=settings.login_failure_window_minutes)
    same_account = col(LoginAttempt.email) == attempt.email
    same_client = col(LoginAttempt.client_address) == attempt.client_address
    earlier_failures = and_(
        col(LoginAttempt.succeeded).is_(False),
        col(LoginAttempt.created_at) > window_start,
        col(LoginAttempt.id) != attempt.id,
    )
    this_pair, this_account, this_client = session.exec(
        select(
            _count_where(and_(same_account, same_client)),
            _count_where(same_account),
            _count_where(same_client),
        ).where(earlier_failures, or_(same_account, same_client))
    ).one()

    waits: list[tuple[float, str]] = []
    per_account_limit = settings.login_max_failures
    if this_pair >= per_account_limit:
        waits.append((_until_below(session, earlier_failures, same_account, same_client, count=this_pair,
                                   limit=per_account_limit, now=now), ACCOUNT_REASON))  # fmt: skip
    account_refuses = this_account >= per_account_limit and this_pair > 0
    client_refuses = this_client >= settings.login_client_max_failures
    if (account_refuses or client_refuses) and not _known_client(session, attempt=attempt, now=now):
        if account_refuses:
            account_lifts = _until_below(session, earlier_failures, same_account, count=this_account,
                                         limit=per_account_limit, now=now)  # fmt: skip
            own_failures_leave = _until_all_leave(session, earlier_failures, same_account, same_client, now=now)
            waits.append((min(account_lifts, own_failures_leave), ACCOUNT_REASON))
        if client_refuses:
            waits.append((_until_below(session, earlier_failures, same_client, count=this_client,
                                       limit=settings.login_client_max_failures, now=now), CLIENT_REASON))  # fmt: skip
    if waits:
        seconds, reason = max(waits)
        raise Limited(seconds, reason)


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _until_below(
    session: Session, *conditions: ColumnElement[bool], count: int, limit: int, now: datetime
) -> float:
    """Seconds until fewer than ``limit`` of the ``count`` failures matching ``conditions`` remain
    in the window: when the one that many places from the newest leaves it."""
    lifting = session.exec(
        select(LoginAttempt.created_at)
        .where(*conditions)
        .order_by(col(LoginAttempt.created_at))
        .offset(max(0, count - limit))
        .limit(1)
    ).first()
    return _seconds_until_outside_window(lifting, now)


def _until_all_leave(session: Session, *conditions: ColumnElement[bool], now: datetime) -> float:
    """Seconds until the newest failure matching ``conditions`` leaves the window."""
    newest = session.exec(select(func.max(LoginAttempt.created_at)).where(*conditions)).one()
    return _seconds_until_outside_window(newest, now)


def _seconds_until_outside_window(created_at: datetime | None, now: datetime) -> float:
    if created_at is None:
        return 60.0
    window = timedelta(minutes=get_settings().login_failure_window_minutes)
    return (created_at + window - now).total_seconds()


def _known_client(session: Session, *, attempt: LoginAttempt, now: datetime) -> bool:
    """Whether this client logged in to this account successfully lately."""
    since = now - timedelta(days=get_settings().login_known_client_days)
    success = session.exec(
        select(LoginAttempt.id)
        .where(
            col(LoginAttempt.email) == attempt.email,
            col(LoginAttempt.client_address) == attempt.client_address,
            col(LoginAttempt.succeeded).is_(True),
            col(LoginAttempt.created_at) > since,
        )
        .limit(1)
    ).first()
    return success is not None
