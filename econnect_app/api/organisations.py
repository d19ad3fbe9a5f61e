"""``GET /api/v1/organisations/{organisation_identifier}``.

Which answer a key holder gets (the keys were checked by the guard before routing, so a caller
without valid keys learns nothing):

- ``404`` when no organisation has the identifier (SPEC): identifiers are random, so this reveals
  nothing to someone who never had it, and organisations are never deleted, so a former partner
  learns nothing new either; anything that cannot be an identifier (1 to 64 URL-safe characters)
  is answered the same way without a query;
- ``403`` when the keys do not reach it (no partnership, partnership ended, membership removed,
  not activated);
- ``200`` with the organisation otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select
from starlette.requests import Request
from starlette.responses import JSONResponse

from econnect_app.api import responses
from econnect_app.api.guard import api_call
from econnect_app.models import Organisation, SoftwarePackage
from econnect_app.services import access

IDENTIFIER_FORM = re.compile(r"[A-Za-z0-9_-]{1,64}")  # the whole identifier (fullmatch)


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

    (A plain function: Starlette runs it in a worker thread, off the event loop.)
    """
    identifier = request.path_params["organisation_identifier"]
    call = api_call(request)
    if not IDENTIFIER_FORM.fullmatch(identifier):
        return responses.json_error(404, responses.NOT_AN_IDENTIFIER_MESSAGE)
    call.organisation_identifier = identifier
    assert call.environment_id is not None, "the key guard runs first"
    with Session(request.app.state.engine_factory(), expire_on_commit=False) as session:
        organisation = session.exec(select(Organisation).where(Organisation.identifier == identifier)).first()
        if organisation is None:
            return responses.json_error(404, responses.NOT_FOUND_MESSAGE)
        if not access.environment_can_access_organisation(
            session, environment_id=call.environment_id, organisation=organisation
        ):
            return responses.json_error(403, responses.FORBIDDEN_MESSAGE)
        return responses.json_data(organisation_document(session, organisation))
