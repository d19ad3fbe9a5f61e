"""Accounts: signing up (a new environment and its first Administrator) and passwords."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import routes, security
from econnect_app.mail import queue_email
from econnect_app.models import (
    Environment,
    OneTimeToken,
    Plan,
    Role,
    TokenPurpose,
    User,
    UserEmail,
    UserStatus,
    utcnow,
)
from econnect_app.services import activity
from econnect_app.services.errors import InvalidToken, ValidationFailed
from econnect_app.services.sessions import add_session, revoke_all_sessions
from econnect_app.services.transaction import committing
from econnect_app.services.validation import (
    FieldError,
    FieldErrors,
    clean_email,
    clean_password,
    clean_required,
)
from econnect_app.settings import get_settings

EMAIL_IN_USE = "An account with this email address already exists. Log in instead."
INVALID_RESET_LINK = "This password reset link is invalid or has expired. Ask for a new one."
WRONG_CURRENT_PASSWORD = "The current password is incorrect."


def sign_up(session: Session, *, name: str, email: str, password: str, company_name: str) -> User:
    """Create a new environment (Invoice Portal plan) whose first user is its Administrator."""
    errors = FieldErrors()
    clean_name = errors.check("name", clean_required, name, label="your name")
    clean_address = errors.check("email", clean_email, email)
    clean_pass = errors.check("password", clean_password, password)
    clean_company = errors.check(
        "company_name", clean_required, company_name, label="your company name"
    )
    if clean_address and email_in_use(session, email=clean_address):
        errors.add("email", EMAIL_IN_USE)
    errors.raise_if_any()
    assert clean_name and clean_address and clean_pass and clean_company

    now = utcnow()
    try:
        with committing(session):
            environment = Environment(
                name=clean_company, plan=Plan.INVOICE_PORTAL.value, created_at=now
            )
            session.add(environment)
            session.flush()
            user = User(
                environment_id=environment.id,  # type: ignore[arg-type]
                name=clean_name,
                email=clean_address,
                password_hash=security.hash_password(clean_pass),
                role=Role.ADMINISTRATOR.value,
                status=UserStatus.ACTIVE.value,
                created_at=now,
                password_changed_at=now,
            )
            session.add(user)
            session.flush()
            activity.record(
                session,
                environment_id=environment.id,
                actor=user,
                action="environment.created",
                summary=f"{clean_name} created the environment {clean_company}.",
                subject_type="environment",
                subject_id=environment.id,
            )
            activity.record(
                session,
                environment_id=environment.id,
                actor=user,
                action="user.signed_up",
                summary=f"{clean_name} signed up as Administrator.",
                subject_type="user",
                subject_id=user.id,
            )
    except IntegrityError:
        # Someone signed up with the same address between our check and this write.
        raise ValidationFailed({"email": EMAIL_IN_USE}) from None
    return user


def email_in_use(session: Session, *, email: str) -> bool:
    """Whether any user has this (normalised) address, as primary or additional email."""
    if session.exec(select(User.id).where(User.email == email)).first() is not None:
        return True
    return session.exec(select(UserEmail.id).where(UserEmail.email == email)).first() is not None


def request_password_reset(session: Session, *, email: str) -> None:
    """Email a reset link to an Active user; answers the same whether or not the address exists.

    A new link voids the user's earlier unused ones.
    """
    try:
        address = clean_email(email)
    except FieldError:
        return
    user = session.exec(select(User).where(User.email == address)).first()
    if user is None or user.status != UserStatus.ACTIVE.value:
        return

    settings = get_settings()
    now = utcnow()
    with committing(session):
        for earlier in _unused_reset_tokens(session, user_id=user.id):  # type: ignore[arg-type]
            earlier.used_at = now
            session.add(earlier)
        raw_token, token_hash = security.new_token()
        session.add(
            OneTimeToken(
                purpose=TokenPurpose.PASSWORD_RESET.value,
                token_hash=token_hash,
                user_id=user.id,
                created_at=now,
                expires_at=now + timedelta(minutes=settings.password_reset_minutes),
            )
        )
        queue_email(
            session,
            template="password_reset",
            to=user.email,
            context={
                "name": user.name or user.email,
                "link": routes.absolute(routes.reset_password(raw_token)),
                "expires_minutes": settings.password_reset_minutes,
            },
            environment_id=user.environment_id,
        )


def reset_password_token_is_valid(session: Session, *, token: str) -> bool:
    """Whether a password reset link can still be used (read-only)."""
    return _valid_reset_token(session, token=token) is not None


def reset_password(session: Session, *, token: str, password: str) -> User:
    """Set a new password through an emailed reset link; ends every session of the user.

    A password that fails validation leaves the link usable.
    """
    found = _valid_reset_token(session, token=token)
    if found is None:
        raise InvalidToken(INVALID_RESET_LINK)
    reset_token, user = found
    errors = FieldErrors()
    new_password = errors.check("password", clean_password, password)
    errors.raise_if_any()
    assert new_password is not None

    now = utcnow()
    with committing(session):
        user.password_hash = security.hash_password(new_password)
        user.password_changed_at = now
        session.add(user)
        reset_token.used_at = now
        session.add(reset_token)
        revoke_all_sessions(session, user=user)
        activity.record(
            session,
            environment_id=user.environment_id,
            actor=user,
            action="user.password_reset",
            summary=f"{user.name or user.email} reset their password.",
            subject_type="user",
            subject_id=user.id,
        )
    return user


def change_password(
    session: Session,
    *,
    user: User,
    current_password: str,
    new_password: str,
    user_agent: str = "",
) -> str:
    """Change a signed-in user's password.

    Ends all the user's sessions and returns the token of a new one, so this browser stays
    logged in.
    """
    db_user = session.get(User, user.id)
    if db_user is None:
        raise ValidationFailed({"current_password": WRONG_CURRENT_PASSWORD})
    errors = FieldErrors()
    if not security.verify_password(current_password or "", db_user.password_hash):
        errors.add("current_password", WRONG_CURRENT_PASSWORD)
    clean_new = errors.check("new_password", clean_password, new_password)
    errors.raise_if_any()
    assert clean_new is not None

    now = utcnow()
    with committing(session):
        db_user.password_hash = security.hash_password(clean_new)
        db_user.password_changed_at = now
        session.add(db_user)
        revoke_all_sessions(session, user=db_user)
        activity.record(
            session,
            environment_id=db_user.environment_id,
            actor=db_user,
            action="user.password_changed",
            summary=f"{db_user.name or db_user.email} changed their password.",
            subject_type="user",
            subject_id=db_user.id,
        )
        raw_token = add_session(session, user=db_user, user_agent=user_agent, now=now)
    return raw_token


def _valid_reset_token(session: Session, *, token: str) -> tuple[OneTimeToken, User] | None:
    """The unused, unexpired password reset token for a raw token and its Active user, if any."""
    if not token:
        return None
    reset_token = session.exec(
        select(OneTimeToken).where(
            OneTimeToken.token_hash == security.hash_token(token),
            OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET.value,
        )
    ).first()
    if reset_token is None or reset_token.used_at is not None or reset_token.user_id is None:
        return None
    if reset_token.expires_at <= utcnow():
        return None
    user = session.get(User, reset_token.user_id)
    if user is None or user.status != UserStatus.ACTIVE.value:
        return None
    return reset_token, user


def _unused_reset_tokens(session: Session, *, user_id: int) -> list[OneTimeToken]:
    return list(
        session.exec(
            select(OneTimeToken).where(
                OneTimeToken.user_id == user_id,
                OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET.value,
                col(OneTimeToken.used_at).is_(None),
            )
        )
    )
