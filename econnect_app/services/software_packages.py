"""The catalogue of accounting software packages (seeded by a migration; read-only here)."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from econnect_app import i18n
from econnect_app.models import SoftwarePackage
from econnect_app.services.errors import NotFound

_NOT_ALPHANUMERIC = re.compile(r"[^0-9a-z]+")


def _normalise(value: str) -> str:
    """Lower case without spaces, hyphens or punctuation: "Visma e-Accounting" -> "vismaeaccounting"."""
    return _NOT_ALPHANUMERIC.sub("", (value or "").lower())


def list_software_packages(session: Session) -> list[SoftwarePackage]:
    """Every package in catalogue order."""
    statement = select(SoftwarePackage).order_by(col(SoftwarePackage.sort_order), col(SoftwarePackage.id))
    return list(session.exec(statement))


def get_software_package(session: Session, *, package_id: int) -> SoftwarePackage:
    """One package by id, or NotFound."""
    package = session.get(SoftwarePackage, package_id)
    if package is None:
        raise NotFound(i18n.gettext("This software package does not exist."))
    return package


def match_software_package(packages: list[SoftwarePackage], name_or_slug: str) -> SoftwarePackage | None:
    """The package whose name or slug equals ``name_or_slug``, ignoring case, spaces and hyphens."""
    wanted = _normalise(name_or_slug)
    if not wanted:
        return None
    for package in packages:
        if wanted in (_normalise(package.name), _normalise(package.slug)):
            return package
    return None


def find_software_package(session: Session, *, name_or_slug: str) -> SoftwarePackage | None:
    """The package named ``name_or_slug`` (name or slug, case-insensitive), or None (CSV import)."""
    return match_software_package(list_software_packages(session), name_or_slug)
