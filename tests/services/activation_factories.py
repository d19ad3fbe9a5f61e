"""Rows for the client's side of authorisation requests, written directly (no authorisations service)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from conftest_factories import make_admin, make_environment, make_user
from sqlmodel import Session, col, select

from econnect_app import security
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Plan,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)

_sequence = itertools.count(1)


def make_software_package(session: Session, *, name: str = "Exact Online") -> SoftwarePackage:
    """A software package row (tests using create_all have none seeded)."""
    number = next(_sequence)
    package = SoftwarePackage(
        slug=f"{name.lower().replace(' ', '-')}-{number}",
        name=name,
        instructions="Open Settings, then Connections, and paste the keys.",
        sort_order=number,
    )
    session.add(package)
    session.commit()
    return package


def make_request(
    session: Session,
    *,
    firm: Environment,
    requester: User,
    package: SoftwarePackage,
    client_email: str = "client@example.com",
    client_name: str = "Bakkerij De Korenbloem",
    organisation_name: str = "Bakkerij De Korenbloem B.V.",
    status: str = AuthorisationStatus.PENDING.value,
    expires_in: timedelta = timedelta(days=14),
) -> tuple[AuthorisationRequest, str]:
    """A request with one link; returns the request and the link's raw token."""
    request = AuthorisationRequest(
        environment_id=firm.id,
        requested_by_id=requester.id,
        client_name=client_name,
        client_email=client_email,
        organisation_name=organisation_name,
        software_package_id=package.id,
        status=status,
        expires_at=utcnow() + expires_in,
    )
    session.add(request)
    session.flush()
    token = add_link(session, request)
    return request, token


def add_link(session: Session, request: AuthorisationRequest, *, void_others: bool = True) -> str:
    """A new link for the request (a resend): older links are voided; returns the raw token."""
    now = utcnow()
    if void_others:
        statement = select(AuthorisationLink).where(
            AuthorisationLink.request_id == request.id, col(AuthorisationLink.voided_at).is_(None)
        )
        for link in session.exec(statement):
            link.voided_at = now
    raw, token_hash = security.new_token()
    session.add(AuthorisationLink(request_id=request.id, token_hash=token_hash, created_at=now))
    session.commit()
    return raw


@dataclass
class Scene:
    """An accountancy firm (Basic) that asked a client (Invoice Portal) for access."""

    firm: Environment
    accountant: User
    client_environment: Environment
    client: User
    package: SoftwarePackage
    request: AuthorisationRequest
    token: str


def make_scene(session: Session, *, client_email: str = "owner@korenbloem.example") -> Scene:
    """The usual starting point: a Pending request from the firm to the client's primary email."""
    firm = make_environment(session, name="Lovelace Accounting", plan=Plan.BASIC.value)
    accountant = make_user(
        session, firm, role=Role.ADVANCED_USER.value, name="Ada Lovelace", email="ada@lovelace.example"
    )
    client_environment = make_environment(session, name="Korenbloem Holding")
    client = make_admin(session, client_environment, name="Kees Koren", email=client_email)
    package = make_software_package(session)
    request, token = make_request(
        session, firm=firm, requester=accountant, package=package, client_email=client_email
    )
    return Scene(firm, accountant, client_environment, client, package, request, token)
