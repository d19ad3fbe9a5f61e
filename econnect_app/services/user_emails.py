"""A user's email addresses and their confirmation: the primary address (confirmed after sign-up)
and additional ones, each proved through an emailed link.

Only a confirmed address unlocks anything addressed to it (``confirmed_addresses``). A link is
used by its owner, logged in, with a click: opening the page uses nothing up
(``look_up_confirmation`` only reads), so a mail scanner that follows links confirms nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n, routes
from econnect_app.formatting import display_name
from econnect_app.mail import queue_email
from econnect_app.models import OneTimeToken, TokenPurpose, User, UserEmail, UserStatus, utcnow
from econnect_app.services import activity, address_holders, one_time_tokens, throttle
from econnect_app.services.errors import InvalidToken, NotFound, PermissionDenied, ValidationFailed
from econnect_app.services.permissions import load_actor
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldErrors, clean_email
from econnect_app.settings import get_settings

CONFIRMATION = TokenPurpose.EMAIL_CONFIRMATION.value
# Messages marked for translation; raised as ``i18n.gettext(...)``.
OWN_ADDRESS_MESSAGE = i18n.N_("This address is already on your account.")
INVALID_CONFIRMATION_MESSAGE = i18n.N_(
    "This confirmation link is invalid, already used or expired. "
    "Log in to get a new link: on your profile for an additional address, from the notice at the top "
    "of the page for your primary address."
)
OTHER_ACCOUNT_MESSAGE = i18n.N_(
    "This link confirms an address of another account. Log out, then log in with the account that "
    "asked for it."
)


@dataclass(frozen=True)
class PendingConfirmation:
    """What a confirmation link is about (read without using the link)."""

    address: str
    user_id: int
    is_primary: bool


# --- which addresses count ----------------------------------------------------------------------


def confirmed_addresses(session: Session, *, user: User) -> list[str]:
    """The user's confirmed addresses, lower case: the primary one once confirmed, and every
    confirmed additional one. Requests are listed and answerable by id only for these."""
    confirmed = session.exec(
        select(UserEmail.email).where(UserEmail.user_id == user.id, col(UserEmail.confirmed_at).is_not(None))
    )
    primary = [user.email.lower()] if user.email_confirmed_at is not None else []
    return sorted({*primary, *(email.lower() for email in confirmed)})


def list_emails(session: Session, *, user: User) -> list[UserEmail]:
    """The user's additional email addresses, oldest first."""
    user = load_actor(session, user)
    statement = (
        select(UserEmail)
        .where(UserEmail.user_id == user.id)
        .order_by(col(UserEmail.created_at), col(UserEmail.id))
    )
    return list(session.exec(statement))


# --- the primary address ------------------------------------------------------------------------


def send_primary_confirmation(session: Session, *, user: User, now: datetime | None = None) -> None:
    """Email the user a fresh link to confirm their primary address; earlier links stop working
    (caller's transaction)."""
    days = get_settings().email_confirmation_days
    one_time_tokens.void_unused(session, purpose=CONFIRMATION, user_id=user.id, primary_only=True, now=now)  # type: ignore[arg-type]
    raw = one_time_tokens.issue(
        session, purpose=CONFIRMATION, lifetime=timedelta(days=days), user_id=user.id, now=now
    )
    queue_email(
        session,
        template="account_confirmation",
        to=user.email,
        context={
            "name": display_name(user),
            "email": user.email,
            "link": routes.absolute(routes.confirm_email(raw)),
            "expires_days": days,
        },
        environment_id=user.environment_id,
    )


def resend_primary_confirmation(session: Session, *, user: User) -> str:
    """Send the confirmation link of the user's primary address again (throttled); returns the
    address. Nothing is sent once it is confirmed."""
    user = load_actor(session, user)
    if user.email_confirmed_at is not None:
        return user.email
    throttle.check("email_confirmation", environment_id=user.environment_id)
    with committing(session):
        send_primary_confirmation(session, user=user)
    return user.email


def confirm_through_link(session: Session, *, user: User, address: str, how: str, now: datetime) -> bool:
    """Confirm one of the user's own addresses that an emailed link just proved (an activation
    link, a password reset, an invitation); caller's transaction. False when ``address`` is not
    an unconfirmed address of the user. ``how``: the link, in English marked with ``i18n.N_``
    ("the invitation link"), translated in the activity row."""
    address = address.lower()
    if user.email.lower() == address:
        if user.email_confirmed_at is not None:
            return False
        user.email_confirmed_at = now
        session.add(user)
    else:
        user_email = session.exec(
            select(UserEmail).where(UserEmail.user_id == user.id, UserEmail.email == address)
        ).first()
        if user_email is None or user_email.confirmed_at is not None:
            return False
        user_email.confirmed_at = now
        session.add(user_email)
    _record_confirmation(session, user=user, address=address, how=how)
    return True


# --- additional addresses -----------------------------------------------------------------------


def add_email(session: Session, *, user: User, email: str) -> str:
    """Add an address to the user's account, usable once confirmed through the emailed link.

    Returns the address. The answer is the same whether or not the address belongs to someone
    else: then nothing is added, and the address is emailed that it already has an account.
    """
    user = load_actor(session, user)
    fields = FieldErrors()
    address = fields.check("email", clean_email, email)
    fields.raise_if_any()
    assert address is not None
    throttle.check("email_confirmation", environment_id=user.environment_id)

    now = utcnow()
    try:
        with committing(session):
            holder = address_holders.take_over(session, address, proven=False, now=now)
            if holder is not None:
                if holder.user.id == user.id:
                    raise ValidationFailed({"email": i18n.gettext(OWN_ADDRESS_MESSAGE)})
                _tell_address_it_has_an_account(session, address=address, user=user)
                return address
            _add_unconfirmed(session, user=user, address=address, now=now)
    except IntegrityError:  # added elsewhere at the same moment
        with committing(session):
            _tell_address_it_has_an_account(session, address=address, user=user)
    return address


def _add_unconfirmed(session: Session, *, user: User, address: str, now: datetime) -> None:
    days = get_settings().email_confirmation_days
    user_email = UserEmail(user_id=user.id, email=address, created_at=now)  # type: ignore[arg-type]
    session.add(user_email)
    session.flush()
    raw = one_time_tokens.issue(
        session,
        purpose=CONFIRMATION,
        lifetime=timedelta(days=days),
        user_id=user.id,
        user_email_id=user_email.id,
        now=now,
    )
    queue_email(
        session,
        template="email_confirmation",
        to=address,
        context={
            "name": display_name(user),
            "email": address,
            "link": routes.absolute(routes.confirm_email(raw)),
            "expires_days": days,
        },
        environment_id=user.environment_id,
    )
    activity.record(
        session,
        environment_id=user.environment_id,
        actor=user,
        action="user.email_added",
        summary=i18n.gettext(
            "{name} added the email address {address}.", name=display_name(user), address=address
        ),
        subject_type="user",
        subject_id=user.id,
    )


def _tell_address_it_has_an_account(session: Session, *, address: str, user: User) -> None:
    address_holders.tell_holder(
        session,
        address=address,
        what=i18n.gettext("add {address} to another eConnect account", address=address),
        environment_id=user.environment_id,
    )


def remove_email(session: Session, *, user: User, email_id: int) -> None:
    """Remove one of the user's own additional addresses (and its confirmation links)."""
    user = load_actor(session, user)
    user_email = session.get(UserEmail, email_id)
    if user_email is None or user_email.user_id != user.id:
        raise NotFound(i18n.gettext("This email address is not on your account."))
    address = user_email.email
    with committing(session):
        session.exec(delete(OneTimeToken).where(col(OneTimeToken.user_email_id) == user_email.id))
        session.delete(user_email)
        activity.record(
            session,
            environment_id=user.environment_id,
            actor=user,
            action="user.email_removed",
            summary=i18n.gettext(
                "{name} removed the email address {address}.", name=display_name(user), address=address
            ),
            subject_type="user",
            subject_id=user.id,
        )


# --- following a confirmation link ----------------------------------------------------------------


def look_up_confirmation(session: Session, *, token: str) -> PendingConfirmation:
    """What a confirmation link would confirm (read-only: opening the page uses nothing up)."""
    return _pending(session, token)[1]


def confirm_email(session: Session, *, user: User, token: str) -> str:
    """Confirm an address through its emailed link, as the logged-in owner (single use).

    Returns the confirmed address.
    """
    user = load_actor(session, user)
    row, pending = _pending(session, token)
    if pending.user_id != user.id:
        raise PermissionDenied(i18n.gettext(OTHER_ACCOUNT_MESSAGE))
    now = utcnow()
    with committing(session):
        if not one_time_tokens.claim(session, row, now=now):
            raise InvalidToken(i18n.gettext(INVALID_CONFIRMATION_MESSAGE))
        if pending.is_primary:
            user.email_confirmed_at = now
            session.add(user)
        else:
            user_email = session.get(UserEmail, row.user_email_id)
            assert user_email is not None
            user_email.confirmed_at = now
            session.add(user_email)
        _record_confirmation(
            session, user=user, address=pending.address, how=i18n.N_("its confirmation link")
        )
    return pending.address


def _pending(session: Session, token: str) -> tuple[OneTimeToken, PendingConfirmation]:
    """The usable confirmation token and what it confirms; InvalidToken when there is none."""
    row = one_time_tokens.find_usable(session, token=token, purpose=CONFIRMATION)
    owner = session.get(User, row.user_id) if row is not None and row.user_id is not None else None
    if row is None or owner is None or owner.status != UserStatus.ACTIVE.value:
        raise InvalidToken(i18n.gettext(INVALID_CONFIRMATION_MESSAGE))
    if row.user_email_id is None:
        if owner.email_confirmed_at is not None:
            raise InvalidToken(i18n.gettext(INVALID_CONFIRMATION_MESSAGE))
        return row, PendingConfirmation(address=owner.email, user_id=owner.id, is_primary=True)  # type: ignore[arg-type]
    user_email = session.get(UserEmail, row.user_email_id)
    if user_email is None or user_email.confirmed_at is not None:
        raise InvalidToken(i18n.gettext(INVALID_CONFIRMATION_MESSAGE))
    return row, PendingConfirmation(address=user_email.email, user_id=owner.id, is_primary=False)  # type: ignore[arg-type]


def _record_confirmation(session: Session, *, user: User, address: str, how: str) -> None:
    activity.record(
        session,
        environment_id=user.environment_id,
        actor=user,
        action="user.email_confirmed",
        summary=i18n.gettext(
            "{name} confirmed the email address {address} through {how}.",
            name=display_name(user),
            address=address,
            how=i18n.gettext(how),
        ),
        subject_type="user",
        subject_id=user.id,
    )
