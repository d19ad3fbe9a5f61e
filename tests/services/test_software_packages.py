"""The software package catalogue: order, lookup by id, lookup by name or slug (CSV import)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from econnect_app.models import SoftwarePackage
from econnect_app.services import software_packages
from econnect_app.services.errors import NotFound

CATALOGUE = [
    ("other", "Other", 9),
    ("exact-online", "Exact Online", 0),
    ("visma-eaccounting", "Visma eAccounting", 6),
    ("twinfield", "Twinfield", 1),
]


@pytest.fixture()
def packages(session: Session) -> dict[str, SoftwarePackage]:
    """A few catalogue rows (the migration seeds the real ones; create_all does not)."""
    rows = {
        slug: SoftwarePackage(slug=slug, name=name, instructions=f"Set up {name}.", sort_order=order)
        for slug, name, order in CATALOGUE
    }
    session.add_all(rows.values())
    session.commit()
    return rows


def test_list_is_in_catalogue_order(session: Session, packages: dict[str, SoftwarePackage]) -> None:
    names = [package.name for package in software_packages.list_software_packages(session)]
    assert names == ["Exact Online", "Twinfield", "Visma eAccounting", "Other"]


def test_list_is_empty_without_rows(session: Session) -> None:
    assert software_packages.list_software_packages(session) == []


def test_get_by_id(session: Session, packages: dict[str, SoftwarePackage]) -> None:
    twinfield = packages["twinfield"]
    found = software_packages.get_software_package(session, package_id=twinfield.id)
    assert (found.name, found.instructions) == ("Twinfield", "Set up Twinfield.")


def test_get_unknown_id_is_not_found(session: Session, packages: dict[str, SoftwarePackage]) -> None:
    with pytest.raises(NotFound, match="This software package does not exist."):
        software_packages.get_software_package(session, package_id=9999)


@pytest.mark.parametrize(
    ("typed", "slug"),
    [
        ("Exact Online", "exact-online"),
        ("exact online", "exact-online"),
        ("EXACT-ONLINE", "exact-online"),
        ("  exact-online  ", "exact-online"),
        ("ExactOnline", "exact-online"),
        ("visma e-accounting", "visma-eaccounting"),
        ("Visma eAccounting", "visma-eaccounting"),
        ("twinfield", "twinfield"),
        ("OTHER", "other"),
    ],
)
def test_find_by_name_or_slug_ignores_case_spaces_and_hyphens(
    session: Session, packages: dict[str, SoftwarePackage], typed: str, slug: str
) -> None:
    found = software_packages.find_software_package(session, name_or_slug=typed)
    assert found is not None and found.slug == slug


@pytest.mark.parametrize("typed", ["", "   ", "Exact", "Quickbooks", "-"])
def test_find_unknown_or_empty_is_none(
    session: Session, packages: dict[str, SoftwarePackage], typed: str
) -> None:
    assert software_packages.find_software_package(session, name_or_slug=typed) is None
