"""The small permission helpers every service uses."""

from __future__ import annotations

import pytest

from econnect_app.models import Role, User, UserStatus
from econnect_app.services.errors import PermissionDenied
from econnect_app.services.permissions import (
    can_manage_partnerships,
    is_admin,
    require_active,
    require_role,
)


def person(role: str = Role.USER.value, status: str = UserStatus.ACTIVE.value) -> User:
    return User(id=1, environment_id=1, email="someone@example.com", role=role, status=status)


@pytest.mark.parametrize(
    ("role", "admin", "partnerships"),
    [
        (Role.USER.value, False, False),
        (Role.ADVANCED_USER.value, False, True),
        (Role.ADMINISTRATOR.value, True, True),
    ],
)
def test_role_predicates(role: str, admin: bool, partnerships: bool) -> None:
    user = person(role)
    assert is_admin(user) is admin
    assert can_manage_partnerships(user) is partnerships


def test_require_active_returns_an_active_user() -> None:
    user = person()
    assert require_active(user) is user


@pytest.mark.parametrize("status", [UserStatus.BLOCKED.value, UserStatus.INVITED.value])
def test_require_active_refuses_blocked_and_invited_users(status: str) -> None:
    with pytest.raises(PermissionDenied) as raised:
        require_active(person(status=status))
    assert "not active" in raised.value.message


def test_require_active_refuses_no_user() -> None:
    with pytest.raises(PermissionDenied):
        require_active(None)


def test_require_role_accepts_a_listed_role() -> None:
    user = person(Role.ADVANCED_USER.value)
    assert require_role(user, Role.ADMINISTRATOR, Role.ADVANCED_USER) is user


def test_require_role_names_the_roles_that_may() -> None:
    with pytest.raises(PermissionDenied) as raised:
        require_role(person(Role.USER.value), Role.ADMINISTRATOR, Role.ADVANCED_USER)
    assert raised.value.message == "Only Administrators and Advanced users can do this."

    with pytest.raises(PermissionDenied) as raised:
        require_role(person(Role.ADVANCED_USER.value), Role.ADMINISTRATOR)
    assert raised.value.message == "Only Administrators can do this."


def test_require_role_refuses_a_blocked_administrator() -> None:
    with pytest.raises(PermissionDenied):
        require_role(person(Role.ADMINISTRATOR.value, UserStatus.BLOCKED.value), Role.ADMINISTRATOR)
