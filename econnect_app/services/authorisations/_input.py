"""The fields of a new request, checked the same way for the form and for a CSV row."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.models import SoftwarePackage, User, UserEmail
from econnect_app.services.software_packages import list_software_packages, match_software_package
from econnect_app.services.validation import FieldErrors, clean_email, clean_required, parse_id

# Marked for translation: translated where they are added to the form's messages.
OWN_ADDRESS_MESSAGE = i18n.N_("This address belongs to your own environment.")
CHOOSE_PACKAGE_MESSAGE = i18n.N_("Choose a software package.")


@dataclass(frozen=True)
class CleanRequest:
    """The checked fields of one new request (from the form or a CSV row)."""

    client_name: str
    client_email: str
    package: SoftwarePackage
    organisation_name: str


def own_addresses(session: Session, *, environment_id: int) -> frozenset[str]:
    """Every address of the environment's own users, primary or additional (lower case): a request
    may not go to one of them. The one rule ``clean_input`` applies; a CSV import reads it once for
    all its rows."""
    primary = select(func.lower(User.email)).where(User.environment_id == environment_id)
    additional = (
        select(func.lower(UserEmail.email))
        .join(User, col(User.id) == col(UserEmail.user_id))
        .where(User.environment_id == environment_id)
    )
    return frozenset(address for address in (*session.exec(primary), *session.exec(additional)) if address)


def package_by_id_or_name(session: Session, value: int | str) -> SoftwarePackage | None:
    """The package the form chose: its id (int or digits), or else its name or slug."""
    text = str(value if not isinstance(value, bool) else "").strip()
    if not text:
        return None
    if isinstance(value, int) or text.isdigit():
        package_id = parse_id(value)
        return session.get(SoftwarePackage, package_id) if package_id is not None else None
    return match_software_package(list_software_packages(session), text)


def clean_input(
    session: Session,
    *,
    environment_id: int,
    client_name: str,
    client_email: str,
    package: SoftwarePackage | None,
    package_message: str,
    organisation_name: str,
    extra: dict[str, str] | None = None,
    own: Collection[str] | None = None,
) -> CleanRequest:
    """The validated fields, or ValidationFailed with every field's message at once.

    ``package_message`` and ``extra``'s messages are shown as given (translated by the caller).
    ``own``: the environment's ``own_addresses``, when the caller has read them already (an import
    checking many rows); read here otherwise."""
    fields = FieldErrors()
    clean_name = fields.check("client_name", clean_required, client_name, label=i18n.N_("the client's name"))
    clean_address = fields.check("client_email", clean_email, client_email)
    if clean_address and clean_address in (
        own if own is not None else own_addresses(session, environment_id=environment_id)
    ):
        fields.add("client_email", i18n.gettext(OWN_ADDRESS_MESSAGE))
    for field, message in (extra or {}).items():
        fields.add(field, message)
    if package is None:
        fields.add("software_package", package_message)
    clean_organisation = fields.check(
        "organisation", clean_required, organisation_name, label=i18n.N_("the organisation name")
    )
    fields.raise_if_any()
    assert package is not None
    return CleanRequest(
        client_name=clean_name,
        client_email=clean_address,
        package=package,
        organisation_name=clean_organisation,
    )
