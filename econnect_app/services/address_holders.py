"""Who holds an email address, and when a hold nobody proved gives way (no address is squatted).

An address belongs to at most one of: an account's primary address (``User.email``, also an
invited user's), or a user's additional address (``UserEmail``). A hold is *proven* when the
address was confirmed through an emailed link (``User.email_confirmed_at``, ``UserEmail.confirmed_at``);
a proven hold never gives way. An unproven hold gives way:

- to anyone who proves the address (an activation link sent to it, or the claim link emailed to it
  when someone tried to sign up with it): whatever the hold's age;
- to anyone at all, once it is stale: an unconfirmed additional address after its confirmation
  window (``email_confirmation_days``), an invitation once none of its links works any more.

An unconfirmed primary address of an account gives way only to proof: a stranger who signs up
with someone's address cannot take over an account that is merely slow to confirm.

Giving way (``release``) keeps every row: an additional address is removed from its account (as
the owner could do); an account or an invitation is closed (Blocked, sessions ended, links void)
and its address replaced by a unique address under the reserved ``.invalid`` domain, which no mail
reaches and nobody can sign up with. An activity row in the holder's environment says what happened.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from econnect_app import i18n, routes
from econnect_app.formatting import display_name, sentence
from econnect_app.mail.outbox import queue_email
from econnect_app.models import OneTimeToken, TokenPurpose, User, UserEmail, UserStatus, utcnow
from econnect_app.services import activity, one_time_tokens
from econnect_app.services.sessions import revoke_all_sessions
from econnect_app.settings import get_settings

RELEASED_DOMAIN = "released.invalid"


@dataclass(frozen=True)
class Holder:
    """The account or additional address that holds an address."""

    user: User
    user_email: UserEmail | None = None  # set when the address is an additional one

    @property
    def address(self) -> str:
        return self.user_email.email if self.user_email is not None else self.user.email

    @property
    def is_invitation(self) -> bool:
        return self.user_email is None and self.user.status == UserStatus.INVITED.value

    @property
    def is_proven(self) -> bool:
        """Confirmed through an emailed link (an invitation proves nothing until it is accepted)."""
        if self.user_email is not None:
            return self.user_email.confirmed_at is not None
        return self.user.email_confirmed_at is not None and not self.is_invitation


def holder_of(session: Session, address: str) -> Holder | None:
    """Who holds ``address`` (normalised, lower case), if anyone."""
    user = session.exec(select(User).where(User.email == address)).first()
    if user is not None:
        return Holder(user=user)
    user_email = session.exec(select(UserEmail).where(UserEmail.email == address)).first()
    if user_email is None:
        return None
    owner = session.get(User, user_email.user_id)
    assert owner is not None
    return Holder(user=owner, user_email=user_email)


def tell_holder(session: Session, *, address: str, what: str, environment_id: int | None) -> None:
    """Email an address that already has an account, instead of saying so to whoever asked to
    ``what`` with it (the answer on screen stays neutral): how to log in or reset the password.
    ``what`` is translated by the caller ("invite ... to join ...")."""
    queue_email(
        session,
        template="address_has_account",
        to=address,
        context={
            "email": address,
            "what": what,
            "log_in_link": routes.absolute(routes.LOGIN),
            "reset_link": routes.absolute(routes.FORGOT_PASSWORD),
        },
        environment_id=environment_id,
    )


def is_released(user: User) -> bool:
    """Whether the account's address was released (the account is closed for good)."""
    return user.email.endswith("@" + RELEASED_DOMAIN)


def is_stale(session: Session, holder: Holder, *, now: datetime) -> bool:
    """Whether an unproven hold has lapsed: it gives way to anyone."""
    if holder.user_email is not None:
        window = timedelta(days=get_settings().email_confirmation_days)
        return holder.user_email.confirmed_at is None and holder.user_email.created_at <= now - window
    if holder.is_invitation:
        return not one_time_tokens.has_usable(
            session, purpose=TokenPurpose.INVITATION.value, user_id=holder.user.id  # type: ignore[arg-type]
        )
    return False


def gives_way(session: Session, holder: Holder, *, proven: bool, now: datetime) -> bool:
    """Whether the hold gives way to someone who wants the address (``proven``: who proved it)."""
    if holder.is_proven:
        return False
    return proven or is_stale(session, holder, now=now)


def take_over(session: Session, address: str, *, proven: bool, now: datetime | None = None) -> Holder | None:
    """Free ``address`` for a new use if its hold gives way (caller's transaction).

    Returns the holder that keeps it, or None when the address is free now.
    """
    now = now or utcnow()
    holder = holder_of(session, address)
    if holder is None:
        return None
    if not gives_way(session, holder, proven=proven, now=now):
        return holder
    release(session, holder, proven=proven, now=now)
    return None


def release(session: Session, holder: Holder, *, proven: bool, now: datetime) -> None:
    """Take the address away from its unproven holder, keeping every row (caller's transaction)."""
    if holder.user_email is not None:
        _remove_additional_address(session, holder, proven=proven)
        return
    user, address = holder.user, holder.user.email
    was_invitation = holder.is_invitation
    one_time_tokens.void_all_of_user(session, user_id=user.id, now=now)  # type: ignore[arg-type]
    revoke_all_sessions(session, user=user)
    user.email = f"released-{user.id}-{secrets.token_hex(4)}@{RELEASED_DOMAIN}"
    user.status = UserStatus.BLOCKED.value
    if was_invitation:
        user.name = user.name or address[:200]  # the users list still says who was invited
        summary = i18n.gettext(
            "The invitation of {address} was closed and the address released", address=address
        )
    else:
        summary = i18n.gettext(
            "The account of {name} was closed and its address {address} released: the address was never "
            "confirmed, and its owner proved it to create an account",
            name=display_name(user, missing=address),
            address=address,
        )
    session.add(user)
    session.flush()  # the address is free before the caller writes it again
    activity.record(
        session,
        environment_id=user.environment_id,
        actor=None,
        action="user.address_released",
        summary=sentence(summary),
        subject_type="user",
        subject_id=user.id,
    )


def _remove_additional_address(session: Session, holder: Holder, *, proven: bool) -> None:
    user_email, owner = holder.user_email, holder.user
    assert user_email is not None
    why = (
        i18n.gettext("its owner proved it for another account")
        if proven
        else i18n.gettext(
            "it was not confirmed within {days} days", days=get_settings().email_confirmation_days
        )
    )
    session.exec(delete(OneTimeToken).where(col(OneTimeToken.user_email_id) == user_email.id))
    session.delete(user_email)
    session.flush()
    activity.record(
        session,
        environment_id=owner.environment_id,
        actor=None,
        action="user.email_released",
        summary=sentence(
            i18n.gettext(
                "The unconfirmed address {address} was removed from the account of {name}: {why}",
                address=user_email.email,
                name=display_name(owner),
                why=why,
            )
        ),
        subject_type="user",
        subject_id=owner.id,
    )
