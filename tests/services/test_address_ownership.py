"""Who may have an address: a sign-up proved by an emailed link, and holds nobody proved that give
way (issue 8, points 1 and 3): nothing squats an address for ever."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from activation_factories import make_request, make_software_package
from conftest_factories import (
    activities,
    link_token,
    make_admin,
    make_environment,
    make_user,
    make_user_session,
    outbox,
)
from sqlmodel import Session, select

from econnect_app.models import (
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    OneTimeToken,
    OutboxMessage,
    Plan,
    Role,
    User,
    UserEmail,
    UserSession,
    UserStatus,
    utcnow,
)
from econnect_app.services import accounts, address_holders, authorisations, sessions, user_emails, users
from econnect_app.services.errors import Conflict, InvalidToken, ValidationFailed

PASSWORD = "correct horse battery staple"
CLIENT = "owner@korenbloem.example"


def sign_up(session: Session, email: str = CLIENT, **proof: str) -> accounts.SignUpResult:
    return accounts.sign_up(
        session, name="Kees Koren", email=email, password=PASSWORD, company_name="Korenbloem", **proof
    )


def pending_request_to(session: Session, address: str = CLIENT) -> str:
    """A firm's Pending request to ``address``; returns the raw token of its activation link."""
    firm = make_environment(session, name="Lovelace Accounting", plan=Plan.BASIC.value)
    accountant = make_user(session, firm, role=Role.ADVANCED_USER.value, email="ada@lovelace.example")
    _, token = make_request(
        session, firm=firm, requester=accountant, package=make_software_package(session), client_email=address
    )
    return token


def claim_token(message: OutboxMessage) -> str:
    """The raw token of the claim link in a "someone tried to sign up" email."""
    match = re.search(r"/signup\?claim=([A-Za-z0-9_-]+)", message.text_body)
    assert match, message.text_body
    return match.group(1)


def user_with(session: Session, address: str) -> User:
    return session.exec(select(User).where(User.email == address)).one()


# --- a sign-up that proves its address ------------------------------------------------------------


def test_signing_up_from_the_activation_link_confirms_the_address_at_once(session: Session) -> None:
    token = pending_request_to(session, "Owner@Korenbloem.example")

    result = sign_up(session, activation_token=token)

    assert result.address_confirmed and result.user is not None
    assert result.user.email_confirmed_at is not None
    assert outbox(session, template="account_confirmation") == []  # no extra step
    [row] = authorisations.incoming_requests(session, user=result.user)
    assert row.client_email == "Owner@Korenbloem.example"


def test_an_activation_link_to_another_address_proves_nothing(session: Session) -> None:
    token = pending_request_to(session)
    typed = "someone.else@example.com"

    result = sign_up(session, typed, activation_token=token)

    assert not result.address_confirmed
    assert result.user is not None and result.user.email_confirmed_at is None
    assert [m.to_address for m in outbox(session, template="account_confirmation")] == [typed]


def test_an_activation_link_that_no_longer_works_proves_nothing(session: Session) -> None:
    token = pending_request_to(session)
    stored = session.exec(select(AuthorisationRequest)).one()
    stored.status = AuthorisationStatus.WITHDRAWN.value
    session.commit()

    result = sign_up(session, activation_token=token)

    assert not result.address_confirmed
    assert result.user is not None and result.user.email_confirmed_at is None


def test_a_stranger_who_signed_up_first_gives_the_address_way_to_the_link_holder(session: Session) -> None:
    token = pending_request_to(session)
    stranger = sign_up(session).user  # nobody checks: the stranger's address stays unconfirmed
    assert stranger is not None
    stranger_session = make_user_session(session, stranger)
    assert authorisations.incoming_requests(session, user=stranger) == []

    result = sign_up(session, activation_token=token)

    assert result.address_confirmed and result.user is not None and result.user.id != stranger.id
    session.expire_all()
    closed = session.get(User, stranger.id)
    assert closed.status == UserStatus.BLOCKED.value
    assert closed.email.endswith("@released.invalid")
    assert session.get(UserSession, stranger_session.id).revoked_at is not None
    [released] = activities(session, action="user.address_released")
    assert released.environment_id == stranger.environment_id
    assert CLIENT in released.summary
    # History stays: the stranger's environment and its activity rows are kept.
    assert {a.action for a in activities(session) if a.environment_id == stranger.environment_id} >= {
        "environment.created",
        "user.signed_up",
        "user.address_released",
    }
    assert [row.client_email for row in authorisations.incoming_requests(session, user=result.user)] == [CLIENT]
    # A closed account stays closed: its address is gone.
    colleague = make_admin(session, session.get(Environment, stranger.environment_id))
    with pytest.raises(Conflict):
        users.unblock_user(session, actor=colleague, user_id=closed.id)


def test_a_confirmed_account_never_gives_way(session: Session) -> None:
    token = pending_request_to(session)
    owner = make_admin(session, make_environment(session), email=CLIENT)

    with pytest.raises(ValidationFailed) as raised:
        sign_up(session, activation_token=token)

    assert raised.value.errors == {"email": accounts.EMAIL_IN_USE}
    session.refresh(owner)
    assert owner.status == UserStatus.ACTIVE.value and owner.email == CLIENT


# --- the claim link: someone signed up with my address first -----------------------------------


def test_the_address_owner_takes_it_back_through_the_claim_link(session: Session) -> None:
    stranger = sign_up(session).user
    assert stranger is not None

    assert sign_up(session).user is None  # the real owner signs up: the same answer
    [attempt] = outbox(session, template="sign_up_attempt")
    assert attempt.to_address == CLIENT
    assert "never confirmed for that account" in attempt.text_body
    assert f"/signup?claim={claim_token(attempt)}&email=owner%40korenbloem.example" in attempt.text_body
    claim = claim_token(attempt)

    result = sign_up(session, claim_token=claim)

    assert result.address_confirmed and result.user is not None
    assert result.user.email == CLIENT and result.user.email_confirmed_at is not None
    session.expire_all()
    assert session.get(User, stranger.id).status == UserStatus.BLOCKED.value
    with pytest.raises(InvalidToken):  # the link works once
        sign_up(session, "other@example.com", claim_token=claim)


def test_a_claim_link_proves_only_its_own_address(session: Session) -> None:
    sign_up(session)
    sign_up(session)
    claim = claim_token(outbox(session, template="sign_up_attempt")[0])

    with pytest.raises(InvalidToken):
        sign_up(session, "someone.else@example.com", claim_token=claim)


def test_a_claim_link_stops_working_once_the_holder_confirms(session: Session) -> None:
    holder = sign_up(session).user
    sign_up(session)
    claim = claim_token(outbox(session, template="sign_up_attempt")[0])
    confirm = link_token(outbox(session, template="account_confirmation")[0])
    user_emails.confirm_email(session, user=holder, token=confirm)  # type: ignore[arg-type]

    with pytest.raises(InvalidToken):
        sign_up(session, claim_token=claim)
    assert user_with(session, CLIENT).id == holder.id  # type: ignore[union-attr]


# --- stale holds give way to anyone -------------------------------------------------------------


def test_an_unconfirmed_account_does_not_give_way_to_an_unproven_sign_up_however_old(session: Session) -> None:
    stranger = sign_up(session).user
    assert stranger is not None
    stranger.created_at = utcnow() - timedelta(days=365)
    session.commit()

    assert sign_up(session).user is None
    session.refresh(stranger)
    assert stranger.status == UserStatus.ACTIVE.value and stranger.email == CLIENT


def test_an_unconfirmed_additional_address_gives_way_after_its_confirmation_window(session: Session) -> None:
    squatter = make_user(session, make_environment(session))
    user_emails.add_email(session, user=squatter, email=CLIENT)
    assert sign_up(session).user is None  # within the window the address is held

    row = session.exec(select(UserEmail).where(UserEmail.email == CLIENT)).one()
    row.created_at = utcnow() - timedelta(days=3, seconds=1)
    session.commit()

    result = sign_up(session)

    assert result.user is not None and result.user.email == CLIENT
    assert session.exec(select(UserEmail).where(UserEmail.email == CLIENT)).first() is None
    assert session.exec(select(OneTimeToken).where(OneTimeToken.user_email_id == row.id)).first() is None
    [released] = activities(session, action="user.email_released")
    assert "not confirmed within 3 days" in released.summary
    assert released.environment_id == squatter.environment_id


def test_a_fresh_unconfirmed_additional_address_gives_way_to_proof(session: Session) -> None:
    token = pending_request_to(session)
    squatter = make_user(session, make_environment(session))
    user_emails.add_email(session, user=squatter, email=CLIENT)

    result = sign_up(session, activation_token=token)

    assert result.address_confirmed
    assert user_emails.list_emails(session, user=squatter) == []


def test_an_expired_invitation_gives_way_and_the_inviting_environment_keeps_its_history(session: Session) -> None:
    firm = make_environment(session, name="Acme")
    admin = make_admin(session, firm)
    invited = users.invite_user(session, actor=admin, email=CLIENT, role=Role.USER.value).user
    assert invited is not None
    assert sign_up(session).user is None  # a live invitation holds the address

    for token in session.exec(select(OneTimeToken).where(OneTimeToken.user_id == invited.id)):
        token.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    result = sign_up(session)

    assert result.user is not None and result.user.email == CLIENT
    session.expire_all()
    closed = session.get(User, invited.id)
    assert closed.status == UserStatus.BLOCKED.value and closed.name == CLIENT
    assert [a.action for a in activities(session) if a.environment_id == firm.id] == [
        "user.invited",
        "user.address_released",
    ]


def test_an_expired_invitation_elsewhere_gives_way_to_a_new_invitation(session: Session) -> None:
    first = make_admin(session, make_environment(session, name="First"))
    earlier = users.invite_user(session, actor=first, email=CLIENT, role=Role.USER.value).user
    session.exec(select(OneTimeToken)).one().expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    second = make_admin(session, make_environment(session, name="Second"))

    sent = users.invite_user(session, actor=second, email=CLIENT, role=Role.USER.value)

    assert sent.user is not None and sent.user.environment_id == second.environment_id
    session.expire_all()
    assert session.get(User, earlier.id).status == UserStatus.BLOCKED.value  # type: ignore[union-attr]


def test_a_password_reset_recovers_an_unconfirmed_account_and_confirms_it(session: Session) -> None:
    sign_up(session)
    accounts.request_password_reset(session, email=CLIENT)
    raw = link_token(outbox(session, template="password_reset")[-1])

    user = accounts.reset_password(session, token=raw, password="a brand new passphrase")

    assert user.email_confirmed_at is not None
    sessions.log_in(session, email=CLIENT, password="a brand new passphrase")


def test_holder_of_and_released_addresses(session: Session) -> None:
    user = make_user(session, make_environment(session), email="a@example.com")
    session.add(UserEmail(user_id=user.id, email="b@example.com"))
    session.commit()

    assert address_holders.holder_of(session, "a@example.com").user.id == user.id  # type: ignore[union-attr]
    held = address_holders.holder_of(session, "b@example.com")
    assert held is not None and held.user_email is not None and not held.is_proven
    assert address_holders.holder_of(session, "c@example.com") is None
    assert not address_holders.is_released(user)
