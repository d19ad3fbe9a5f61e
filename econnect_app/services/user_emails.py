"""A user's additional email addresses, each confirmed by an emailed link."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import routes, security
from econnect_app.mail import queue_email
from econnect_app.models import OneTimeToken, TokenPurpose, User, UserEmail, utcnow
from econnect_app.services import activity
from econnect_app.services.accounts import email_in_use
from econnect_app.services.errors import InvalidToken, NotFound, ValidationFailed
from econnect_app.services.permissions import load_actor
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldErrors, clean_email
from econnect_app.settings import get_settings

EMAIL_IN_USE_MESSAGE = "This email address is already in use."
INVALID_CONFIRMATION_MESSAGE = (
    "This confirmation link is invalid or has expired. "
    "Add the email address again to get a new link."
)


def list_emails(session: Session, *, user: User) -> list[UserEmail]:
    """The user's additional email addresses, oldest first."""
    user = load_actor(session, user)
    statement = (
        select(UserEmail)
        .where(UserEmail.user_id == user.id)
        .order_by(col(UserEmail.created_at), col(UserEmail.id))
    )
    return list(session.exec(statement))


def add_email(session: Session, *, user: User, email: str) -> UserEmail:
    """Add an address to the user's account, usable once confirmed through the emailed link."""
    user = load_actor(session, user)
    fields = FieldErrors()
    address = fields.check("email", clean_email, email)
    if address and email_in_use(session, email=address):
        fields.add("email", EMAIL_IN_USE_MESSAGE)
    fields.raise_if_any()

    settings = get_settings()
    raw, token_hash = security.new_token()
    user_email = UserEmail(user_id=user.id, email=address)
    try:
        with committing(session):
            session.add(user_email)
            session.flush()
            session.add(
                OneTimeToken(
                    purpose=TokenPurpose.EMAIL_CONFIRMATION.value,
                    token_hash=token_hash,
                    user_id=user.id,
                    user_email_id=user_email.id,
                    expires_at=utcnow() + timedelta(days=settings.email_confirmation_days),
                )
            )
            queue_email(
                session,
                template="email_confirmation",
                to=address,
                context={
                    "name": user.name or user.email,
                    "email": address,
                    "link": routes.absolute(routes.confirm_email(raw)),
                    "expires_days": settings.email_confirmation_days,
                },
                environment_id=user.environment_id,
            )
            activity.record(
                session,
                environment_id=user.environment_id,
                actor=user,
                action="user.email_added",
                summary=f"{user.name or user.email} added the email address {address}.",
                subject_type="user",
                subject_id=user.id,
            )
    except IntegrityError:
        if email_in_use(session, email=address):
            raise ValidationFailed({"email": EMAIL_IN_USE_MESSAGE}) from None
        raise
    return user_email


def confirm_email(session: Session, *, token: str) -> UserEmail:
    """Confirm an additional address through its emailed link (single use)."""
    row = session.exec(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == security.hash_token(token or ""),
            OneTimeToken.purpose == TokenPurpose.EMAIL_CONFIRMATION.value,
        )
    ).first()
    if (
        row is None
        or row.used_at is not None
        or row.expires_at <= utcnow()
        or row.user_email_id is None
    ):
        raise InvalidToken(INVALID_CONFIRMATION_MESSAGE)
    user_email = session.get(UserEmail, row.user_email_id)
    if user_email is None:
        raise InvalidToken(INVALID_CONFIRMATION_MESSAGE)
    now = utcnow()
    with committing(session):
        row.used_at = now
        if user_email.confirmed_at is None:
            user_email.confirmed_at = now
            owner = session.get(User, user_email.user_id)
            activity.record(
                session,
                environment_id=owner.environment_id if owner else None,
                actor=owner,
                action="user.email_confirmed",
                summary=f"The email address {user_email.email} was confirmed.",
                subject_type="user",
                subject_id=user_email.user_id,
            )
    return user_email


def remove_email(session: Session, *, user: User, email_id: int) -> None:
    """Remove one of the user's own additional addresses (and its confirmation links)."""
    user = load_actor(session, user)
    user_email = session.get(UserEmail, email_id)
    if user_email is None or user_email.user_id != user.id:
        raise NotFound("This email address is not on your account.")
    address = user_email.email
    with committing(session):
        session.exec(delete(OneTimeToken).where(col(OneTimeToken.user_email_id) == user_email.id))
        session.delete(user_email)
        activity.record(
            session,
            environment_id=user.environment_id,
            actor=user,
            action="user.email_removed",
            summary=f"{user.name or user.email} removed the email address {address}.",
            subject_type="user",
            subject_id=user.id,
        )
