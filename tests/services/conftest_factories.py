"""Tiny factories that write rows directly, so service tests do not depend on other services."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta

from sqlmodel import Session, select

from econnect_app import security
from econnect_app.models import (
    ActivityLog,
    Environment,
    Organisation,
    OutboxMessage,
    Plan,
    Role,
    User,
    UserSession,
    UserStatus,
    utcnow,
)

_sequence = itertools.count(1)
LINK_TOKEN = re.compile(r"http://\S+/(?:invitation|confirm-email|reset-password)/([A-Za-z0-9_\-]+)")


def make_environment(
    session: Session, *, name: str = "Acme Accountants", plan: str = Plan.INVOICE_PORTAL.value
) -> Environment:
    """An environment row (not onboarded yet)."""
    environment = Environment(name=name, plan=plan)
    session.add(environment)
    session.commit()
    return environment


def make_user(
    session: Session,
    environment: Environment,
    *,
    role: str = Role.USER.value,
    status: str = UserStatus.ACTIVE.value,
    name: str | None = None,
    email: str | None = None,
    password_hash: str | None = "not-a-real-hash",
    email_confirmed: bool | None = None,
) -> User:
    """A user row in ``environment``; its primary address is confirmed unless it is Invited (or
    ``email_confirmed`` says otherwise)."""
    number = next(_sequence)
    confirmed = status != UserStatus.INVITED.value if email_confirmed is None else email_confirmed
    user = User(
        environment_id=environment.id,
        name=name if name is not None else f"Person {number}",
        email=email or f"person{number}@example.com",
        role=role,
        status=status,
        password_hash=password_hash,
        email_confirmed_at=utcnow() if confirmed else None,
    )
    session.add(user)
    session.commit()
    return user


def make_admin(session: Session, environment: Environment, **kwargs) -> User:  # type: ignore[no-untyped-def]
    """An active Administrator of ``environment``."""
    return make_user(session, environment, role=Role.ADMINISTRATOR.value, **kwargs)


def make_organisation(
    session: Session,
    environment: Environment,
    *,
    name: str | None = None,
    kvk_number: str | None = None,
    activated: bool = False,
) -> Organisation:
    """An organisation row in ``environment``."""
    number = next(_sequence)
    organisation = Organisation(
        environment_id=environment.id,
        name=name or f"Organisation {number}",
        kvk_number=kvk_number or f"{number:08d}",
        identifier=security.new_public_identifier(),
        activated_at=utcnow() if activated else None,
    )
    session.add(organisation)
    session.commit()
    return organisation


def make_user_session(session: Session, user: User) -> UserSession:
    """A live login session of ``user``."""
    _, token_hash = security.new_token()
    row = UserSession(
        user_id=user.id, token_hash=token_hash, expires_at=utcnow() + timedelta(hours=1)
    )
    session.add(row)
    session.commit()
    return row


def outbox(session: Session, *, template: str | None = None) -> list[OutboxMessage]:
    """The outbox, oldest first (optionally one template only)."""
    statement = select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        statement = statement.where(OutboxMessage.template == template)
    return list(session.exec(statement))


def activities(session: Session, *, action: str | None = None) -> list[ActivityLog]:
    """The activity log, oldest first (optionally one action only)."""
    statement = select(ActivityLog).order_by(ActivityLog.id)
    if action:
        statement = statement.where(ActivityLog.action == action)
    return list(session.exec(statement))


def link_token(message: OutboxMessage) -> str:
    """The raw token of the link in a message's plain-text body."""
    match = LINK_TOKEN.search(message.text_body)
    assert match, message.text_body
    assert match.group(1) in message.html_body
    return match.group(1)


def count(session: Session, model: type) -> int:
    """How many rows a table holds."""
    return len(list(session.exec(select(model))))
