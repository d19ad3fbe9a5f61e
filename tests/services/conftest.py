"""Fixtures for service tests: users made through the real sign-up service."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import Session

from econnect_app.models import Role, User, UserStatus
from econnect_app.services import accounts

GOOD_PASSWORD = "correct horse battery staple"


@pytest.fixture()
def password() -> str:
    """A password that passes validation (what sign_up_user uses by default)."""
    return GOOD_PASSWORD


@pytest.fixture()
def sign_up_user(session: Session) -> Callable[..., User]:
    """Sign up a new environment and return its first user (an Administrator; its address is not
    confirmed yet)."""

    def sign_up(
        *,
        name: str = "Ada Lovelace",
        email: str = "ada@example.com",
        password: str = GOOD_PASSWORD,
        company_name: str = "Lovelace Accounting",
    ) -> User:
        result = accounts.sign_up(
            session, name=name, email=email, password=password, company_name=company_name
        )
        assert result.user is not None, "the address was taken"
        return result.user

    return sign_up


@pytest.fixture()
def add_invited_user(session: Session) -> Callable[..., User]:
    """Add an invited user (no password yet) to an environment."""

    def add(*, environment_id: int, email: str = "invitee@example.com") -> User:
        user = User(
            environment_id=environment_id,
            email=email,
            role=Role.USER.value,
            status=UserStatus.INVITED.value,
        )
        session.add(user)
        session.commit()
        return user

    return add
