"""Accounts: signing up (a new environment and its first Administrator) and passwords.

Sign-up answers the same whether or not the address is free, so nobody learns from it who has an
account: a new account gets a link to confirm its address; the holder of a taken address is
emailed that someone tried to sign up with it. The exception is a sign-up that *proves* the address
through an emailed link it came from (the activation link of a request sent to that address, or
the claim link sent to it): the account's address is confirmed at once, an unproven hold of the
address gives way (``address_holders``), and a proven one is named ("log in instead").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from econnect_app import i18n, routes, security
from econnect_app.formatting import display_name
from econnect_app.mail import queue_email
from econnect_app.mail.messages import render_message
from econnect_app.models import (
    Environment,
    OneTimeToken,
    Plan,
    Role,
    TokenPurpose,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import activity, address_holders, one_time_tokens, throttle, user_emails
from econnect_app.services.authorisations.links import request_for_token
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

# Marked for translation; raised as ``i18n.gettext(...)`` (the English values are compared in tests).
EMAIL_IN_USE = i18n.N_("An account with this email address already exists. Log in instead.")
INVALID_RESET_LINK = i18n.N_("This password reset link is invalid or has expired. Ask for a new one.")
INVALID_CLAIM_LINK = i18n.N_(
    "This link is invalid, already used or expired. Sign up again to get a new one by email."
)
WRONG_CURRENT_PASSWORD = i18n.N_("The current password is incorrect.")
SAME_PASSWORD = i18n.N_("Choose a new password: this is your current one.")
RESET = TokenPurpose.PASSWORD_RESET.value


@dataclass(frozen=True)
class SignUpResult:
    """What a sign-up did. The page answers the same for every result but a proven one."""

    user: User | None  # the new account; None when the address was taken (its holder was emailed)
    address_confirmed: bool  # proved by the link the sign-up came from: the page logs in at once


# --- sign-up --------------------------------------------------------------------------------------


def sign_up(
    session: Session,
    *,
    name: str,
    email: str,
    password: str,
    company_name: str,
    activation_token: str = "",
    claim_token: str = "",
) -> SignUpResult:
    """Create a new environment (Invoice Portal plan) whose first user is its Administrator.

    ``activation_token`` / ``claim_token``: the emailed link the sign-up came from; when it was
    sent to the typed address, the address is proved (see the module docstring).
    """
    errors = FieldErrors()
    clean_name = errors.check("name", clean_required, name, label=i18n.N_("your name"))
    address = errors.check("email", clean_email, email)
    clean_pass = errors.check("password", clean_password, password)
    clean_company = errors.check(
        "company_name", clean_required, company_name, label=i18n.N_("your company name")
    )
    errors.raise_if_any()
    assert clean_name and address and clean_pass and clean_company
    throttle.check("sign_up")

    password_hash = security.hash_password(clean_pass)  # the same work whether or not the address is free
    claim = _claim_for(session, token=claim_token, address=address)
    proven = claim is not None or _activation_link_proves(session, token=activation_token, address=address)
    now = utcnow()
    try:
        with committing(session):
            if claim is not None and not one_time_tokens.claim(session, claim, now=now):
                raise InvalidToken(i18n.gettext(INVALID_CLAIM_LINK))  # used at the same moment
            holder = address_holders.take_over(session, address, proven=proven, now=now)
            if holder is not None:
                if proven:
                    raise ValidationFailed({"email": i18n.gettext(EMAIL_IN_USE)})
                _tell_holder_of_attempt(session, holder=holder, now=now)
                return SignUpResult(user=None, address_confirmed=False)
            user = _create_environment_and_administrator(
                session, name=clean_name, address=address, password_hash=password_hash,
                company_name=clean_company, confirmed=proven, now=now,
            )  # fmt: skip
    except IntegrityError:
        # The same address signed up at the same moment: it is taken now.
        if proven:
            raise ValidationFailed({"email": i18n.gettext(EMAIL_IN_USE)}) from None
        with committing(session):
            holder = address_holders.holder_of(session, address)
            if holder is not None:
                _tell_holder_of_attempt(session, holder=holder, now=now)
        return SignUpResult(user=None, address_confirmed=False)
    return SignUpResult(user=user, address_confirmed=proven)


def _activation_link_proves(session: Session, *, token: str, address: str) -> bool:
    """Whether a working activation link of a request sent to ``address`` came with the sign-up."""
    if not token or not isinstance(token, str):
        return False
    try:
        request = request_for_token(session, token=token)
    except InvalidToken:
        return False
    try:
        return clean_email(request.client_email) == address
    except FieldError:
        return False


def _claim_for(session: Session, *, token: str, address: str) -> OneTimeToken | None:
    """The usable claim link of ``address`` (emailed to it when someone tried to sign up with it),
    while the address's hold is still unproven; None without one."""
    row = one_time_tokens.find_usable(session, token=token, purpose=one_time_tokens.ADDRESS_CLAIM)
    if row is None:
        if token:
            raise InvalidToken(i18n.gettext(INVALID_CLAIM_LINK))
        return None
    holder = address_holders.holder_of(session, address)
    if holder is None or holder.is_proven or holder.user.id != row.user_id:
        raise InvalidToken(i18n.gettext(INVALID_CLAIM_LINK))
    held_as = holder.user_email.id if holder.user_email is not None else None
    if held_as != row.user_email_id:
        raise InvalidToken(i18n.gettext(INVALID_CLAIM_LINK))
    return row


def _create_environment_and_administrator(
    session: Session,
    *,
    name: str,
    address: str,
    password_hash: str,
    company_name: str,
    confirmed: bool,
    now: datetime,
) -> User:
    environment = Environment(name=company_name, plan=Plan.INVOICE_PORTAL.value, created_at=now)
    session.add(environment)
    session.flush()
    user = User(
        environment_id=environment.id,  # type: ignore[arg-type]
        name=name,
        email=address,
        password_hash=password_hash,
        role=Role.ADMINISTRATOR.value,
        status=UserStatus.ACTIVE.value,
        created_at=now,
        password_changed_at=now,
        email_confirmed_at=now if confirmed else None,
    )
    session.add(user)
    session.flush()
    activity.record(
        session,
        environment_id=environment.id,
        actor=user,
        action="environment.created",
        summary=i18n.gettext("{name} created the environment {company}.", name=name, company=company_name),
        subject_type="environment",
        subject_id=environment.id,
    )
    activity.record(
        session,
        environment_id=environment.id,
        actor=user,
        action="user.signed_up",
        summary=(
            i18n.gettext(
                "{name} signed up as Administrator, confirming {address} through the emailed link.",
                name=name,
                address=address,
            )
            if confirmed
            else i18n.gettext("{name} signed up as Administrator.", name=name)
        ),
        subject_type="user",
        subject_id=user.id,
    )
    if not confirmed:
        user_emails.send_primary_confirmation(session, user=user, now=now)
    return user


def _tell_holder_of_attempt(session: Session, *, holder: address_holders.Holder, now: datetime) -> None:
    """Email the address that someone tried to sign up with it (caller's transaction).

    When nobody has proved the address yet, the email carries a claim link: following it proves the
    address, and a sign-up through it takes the address over.
    """
    settings = get_settings()
    claim_link = ""
    if not holder.is_proven:
        raw = one_time_tokens.issue(
            session,
            purpose=one_time_tokens.ADDRESS_CLAIM,
            lifetime=timedelta(days=settings.email_confirmation_days),
            user_id=holder.user.id,
            user_email_id=holder.user_email.id if holder.user_email is not None else None,
            now=now,
        )
        claim_link = routes.absolute(f"{routes.SIGNUP}?claim={raw}&email={quote(holder.address, safe='')}")
    queue_email(
        session,
        template="sign_up_attempt",
        to=holder.address,
        context={
            "email": holder.address,
            "proven": holder.is_proven,
            "invitation": holder.is_invitation,
            "claim_link": claim_link,
            "expires_days": settings.email_confirmation_days,
            "log_in_link": routes.absolute(routes.LOGIN),
            "reset_link": routes.absolute(routes.FORGOT_PASSWORD),
        },
        environment_id=holder.user.environment_id,
    )


# --- password reset -------------------------------------------------------------------------------


def request_password_reset(session: Session, *, email: str) -> None:
    """Email a reset link to an Active user; answers the same whether or not the address exists.

    The same work runs either way, so the time taken does not tell either: a token row is written
    (for an unknown address one without a user, which no link can use) and the email rendered; only
    queueing it differs. A new link voids the user's earlier unused ones. Limited per client (a
    refusal says so) and per environment of the account (quietly: no email past the limit).
    """
    throttle.check("password_reset")
    user = _active_user_with_address(session, email)
    if user is not None and not throttle.environment_allows("password_reset", user.environment_id):
        user = None  # past the environment's limit: the same answer, no email
    settings = get_settings()
    raw, token_hash = security.new_token()
    context = {
        "name": display_name(user) if user else "",
        "link": routes.absolute(routes.reset_password(raw)),
        "expires_minutes": settings.password_reset_minutes,
    }
    now = utcnow()
    with committing(session):
        if user is not None:
            one_time_tokens.void_unused(session, purpose=RESET, user_id=user.id, now=now)  # type: ignore[arg-type]
        session.add(  # without a user (an unknown address) the token can never be used
            OneTimeToken(
                purpose=RESET,
                token_hash=token_hash,
                user_id=user.id if user else None,
                created_at=now,
                expires_at=now + timedelta(minutes=settings.password_reset_minutes),
            )
        )
        if user is None:
            render_message("password_reset", context)  # the same work as queueing it; nobody to send it to
        else:
            queue_email(
                session, template="password_reset", to=user.email, context=context, environment_id=user.environment_id
            )


def _active_user_with_address(session: Session, email: str) -> User | None:
    try:
        address = clean_email(email)
    except FieldError:
        return None
    user = session.exec(select(User).where(User.email == address)).first()
    return user if user is not None and user.status == UserStatus.ACTIVE.value else None


def reset_password_token_is_valid(session: Session, *, token: str) -> bool:
    """Whether a password reset link can still be used (read-only)."""
    return _valid_reset_token(session, token=token) is not None


def reset_password(session: Session, *, token: str, password: str) -> User:
    """Set a new password through an emailed reset link; ends every session of the user.

    The link also proves the address: an unconfirmed primary address is confirmed. A password
    that fails validation leaves the link usable; of two simultaneous uses, one wins.
    """
    found = _valid_reset_token(session, token=token)
    if found is None:
        raise InvalidToken(i18n.gettext(INVALID_RESET_LINK))
    reset_token, user = found
    errors = FieldErrors()
    new_password = errors.check("password", clean_password, password)
    if new_password and security.verify_password(new_password, user.password_hash):
        errors.add("password", i18n.gettext(SAME_PASSWORD))
    errors.raise_if_any()
    assert new_password is not None
    password_hash = security.hash_password(new_password)

    now = utcnow()
    with committing(session):
        if not one_time_tokens.claim(session, reset_token, now=now):
            raise InvalidToken(i18n.gettext(INVALID_RESET_LINK))
        user.password_hash = password_hash
        user.password_changed_at = now
        session.add(user)
        revoke_all_sessions(session, user=user)
        user_emails.confirm_through_link(
            session, user=user, address=user.email, how=i18n.N_("a password reset link"), now=now
        )
        activity.record(
            session,
            environment_id=user.environment_id,
            actor=user,
            action="user.password_reset",
            summary=i18n.gettext("{name} reset their password.", name=display_name(user)),
            subject_type="user",
            subject_id=user.id,
        )
        _tell_password_changed(session, user=user, how=i18n.N_("reset through an emailed link"), now=now)
    return user


# --- password change ------------------------------------------------------------------------------


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
    logged in. The owner is emailed that the password changed.
    """
    db_user = session.get(User, user.id)
    if db_user is None:
        raise ValidationFailed({"current_password": i18n.gettext(WRONG_CURRENT_PASSWORD)})
    errors = FieldErrors()
    current_ok = security.verify_password(current_password or "", db_user.password_hash)
    if not current_ok:
        errors.add("current_password", i18n.gettext(WRONG_CURRENT_PASSWORD))
    clean_new = errors.check("new_password", clean_password, new_password)
    if current_ok and clean_new and security.tokens_equal(clean_new, current_password):
        errors.add("new_password", i18n.gettext(SAME_PASSWORD))
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
            summary=i18n.gettext("{name} changed their password.", name=display_name(db_user)),
            subject_type="user",
            subject_id=db_user.id,
        )
        _tell_password_changed(session, user=db_user, how=i18n.N_("changed on the profile page"), now=now)
        raw_token = add_session(session, user=db_user, user_agent=user_agent, now=now)
    return raw_token


def _tell_password_changed(session: Session, *, user: User, how: str, now: datetime) -> None:
    """Email the owner that the password changed, with what to do if it was not them. ``how``:
    English, marked with ``i18n.N_`` (the email shows it translated, ``how|translated``)."""
    queue_email(
        session,
        template="password_changed",
        to=user.email,
        context={
            "name": display_name(user),
            "email": user.email,
            "how": how,
            "when": now,
            "reset_link": routes.absolute(routes.FORGOT_PASSWORD),
        },
        environment_id=user.environment_id,
    )


def _valid_reset_token(session: Session, *, token: str) -> tuple[OneTimeToken, User] | None:
    """The unused, unexpired password reset token for a raw token and its Active user, if any."""
    reset_token = one_time_tokens.find_usable(session, token=token, purpose=RESET)
    if reset_token is None or reset_token.user_id is None:
        return None
    user = session.get(User, reset_token.user_id)
    if user is None or user.status != UserStatus.ACTIVE.value:
        return None
    return reset_token, user
