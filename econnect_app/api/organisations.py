"""``GET /api/v1/organisations/{organisation_identifier}``."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select
from starlette.requests import Request
from starlette.responses import JSONResponse

from econnect_app.api import responses
from econnect_app.api.auth import authenticated_key_set
from econnect_app.models import Organisation, SoftwarePackage
from econnect_app.services import access


def organisation_document(session: Session, organisation: Organisation) -> dict[str, Any]:
    """The organisation as the API returns it."""
    package = (
        session.get(SoftwarePackage, organisation.software_package_id)
        if organisation.software_package_id is not None
        else None
    )
    return {
        "identifier": organisation.identifier,
        "name": organisation.name,
        "kvk_number": organisation.kvk_number,
        "vat_number": organisation.vat_number,
        "software_package": package.name if package else None,
    }


def get_organisation(request: Request) -> JSONResponse:
    """One organisation, for software holding keys with access to it.

    Keys are checked before the identifier, so a caller without valid keys learns nothing.
    (A plain function: Starlette runs it in a worker thread, off the event loop.)
    """
    identifier = request.path_params["organisation_identifier"]
    with Session(request.app.state.engine_factory(), expire_on_commit=False) as session:
        key_set = authenticated_key_set(session, request)
        if key_set is None:
            return responses.unauthorised()
        # Identifiers are URL-safe tokens; anything else (a NUL breaks PostgreSQL) matches nothing.
        organisation = (
            None
            if "\x00" in identifier
            else session.exec(select(Organisation).where(Organisation.identifier == identifier)).first()
        )
        if organisation is None:
            return responses.json_error(404, responses.NOT_FOUND_MESSAGE)
        if not access.environment_can_access_organisation(
            session, environment_id=key_set.environment_id, organisation=organisation
        ):
            return responses.json_error(403, responses.FORBIDDEN_MESSAGE)
        return responses.json_data(organisation_document(session, organisation))
