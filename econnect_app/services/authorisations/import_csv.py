"""Many requests at once from a CSV file: one request per valid row, every invalid row reported."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session

from econnect_app.models import User, organisation_key
from econnect_app.services.authorisations._input import clean_input
from econnect_app.services.authorisations.sending import create_checked, require_sender
from econnect_app.services.errors import DomainError, ValidationFailed
from econnect_app.services.software_packages import list_software_packages, match_software_package
from econnect_app.services.validation import FieldError, clean_email

MAX_IMPORT_ROWS = 500
CSV_COLUMNS: tuple[str, ...] = ("client name", "email", "software package", "organisation")
MISSING_COLUMNS_MESSAGE = (
    "The first row must name the columns: client name, email, software package and organisation."
)

# CSV header spellings (lower case, "_" and "-" read as spaces) -> the field they fill.
_HEADER_ALIASES: dict[str, str] = {
    "client name": "client_name",
    "clientname": "client_name",
    "client": "client_name",
    "name": "client_name",
    "client email": "client_email",
    "clientemail": "client_email",
    "client email address": "client_email",
    "email": "client_email",
    "e mail": "client_email",
    "email address": "client_email",
    "e mail address": "client_email",
    "software package": "software_package",
    "softwarepackage": "software_package",
    "software": "software_package",
    "package": "software_package",
    "accounting software": "software_package",
    "organisation": "organisation",
    "organization": "organisation",
    "organisation name": "organisation",
    "organization name": "organisation",
}
_CSV_FIELDS: tuple[str, ...] = ("client_name", "client_email", "software_package", "organisation")
_CSV_FIELD_LABELS = {
    "client_name": "client name",
    "client_email": "email",
    "software_package": "software package",
    "organisation": "organisation",
}

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RowError:
    """Why one CSV line created nothing (``line`` counts from 1, the header being line 1)."""

    line: int
    message: str


@dataclass(frozen=True)
class BulkImportResult:
    """Ids of the requests a CSV import created and the lines it refused."""

    created: list[int]
    errors: list[RowError]


def _csv_rows(csv_text: str) -> list[tuple[int, list[str]]]:
    """(first line number, cells) of every non-blank record; ";", "," or tab separated, BOM ok."""
    text = (csv_text or "").lstrip("\ufeff")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=first_line.count)
    if first_line.count(delimiter) == 0:
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    previous_line = 0
    for row in reader:
        line = previous_line + 1
        previous_line = reader.line_num
        if any(cell.strip() for cell in row):
            rows.append((line, row))
    return rows


def _header_columns(header: list[str]) -> dict[str, int]:
    """Field name -> column index, from the header row (first spelling of a field wins)."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = " ".join(cell.replace("_", " ").replace("-", " ").lower().split())
        field = _HEADER_ALIASES.get(key)
        if field and field not in columns:
            columns[field] = index
    return columns


def import_requests_csv(
    session: Session,
    *,
    actor: User,
    csv_text: str,
    on_progress: ProgressCallback | None = None,
) -> BulkImportResult:
    """Create one request per valid CSV row; report every invalid row with its line and reasons.

    Columns (header row required, in any order, ";" or "," separated): client name, email,
    software package (name or slug), organisation. Each row is its own transaction, so valid rows
    are kept whatever the other rows hold. At most ``MAX_IMPORT_ROWS`` rows are read.
    A file without the four columns raises ValidationFailed({"file": ...}).

    ``on_progress(done, total)`` is called after each data row is handled (created or refused);
    ``total`` is the number of data rows that will be read.
    """
    actor, environment = require_sender(session, actor)
    rows = _csv_rows(csv_text)
    if not rows:
        raise ValidationFailed({"file": "The file is empty. " + MISSING_COLUMNS_MESSAGE})
    (_, header), data_rows = rows[0], rows[1:]
    columns = _header_columns(header)
    missing = [_CSV_FIELD_LABELS[field] for field in _CSV_FIELDS if field not in columns]
    if missing:
        raise ValidationFailed({"file": f"{MISSING_COLUMNS_MESSAGE} Missing: {', '.join(missing)}."})

    packages = list_software_packages(session)
    package_names = ", ".join(package.name for package in packages)
    to_read, beyond_limit = data_rows[:MAX_IMPORT_ROWS], data_rows[MAX_IMPORT_ROWS:]
    created: list[int] = []
    errors: list[RowError] = []
    created_lines: dict[tuple[str, str], int] = {}  # (client email, organisation) -> line that created it
    for done, (line, row) in enumerate(to_read, start=1):
        values = {field: row[index] if index < len(row) else "" for field, index in columns.items()}
        package_text = values["software_package"].strip()
        if package_text:
            package = match_software_package(packages, package_text)
            package_message = f'Unknown software package "{package_text}". Use one of: {package_names}.'
        else:
            package, package_message = None, "Enter the software package."
        extra: dict[str, str] = {}
        try:
            address = clean_email(values["client_email"])
        except FieldError:
            address = ""
        key = (address, organisation_key(values["organisation"]))
        if key in created_lines:
            extra["client_email"] = f"Duplicate of line {created_lines[key]}."
        try:
            clean = clean_input(
                session,
                environment_id=environment.id,
                client_name=values["client_name"],
                client_email=values["client_email"],
                package=package,
                package_message=package_message,
                organisation_name=values["organisation"],
                extra=extra,
            )
            request = create_checked(session, actor=actor, environment=environment, clean=clean)
        except ValidationFailed as error:
            errors.append(RowError(line=line, message=" ".join(error.errors.values())))
        except DomainError as error:
            errors.append(RowError(line=line, message=error.message))
        else:
            created.append(request.id)  # type: ignore[arg-type]
            created_lines[(clean.client_email, organisation_key(clean.organisation_name))] = line
        if on_progress is not None:
            on_progress(done, len(to_read))
    if beyond_limit:
        errors.append(
            RowError(
                line=beyond_limit[0][0],
                message=(
                    f"A file can hold at most {MAX_IMPORT_ROWS} requests: this row and the "
                    f"{len(beyond_limit) - 1} after it were not imported. Upload them in another file."
                ),
            )
        )
    return BulkImportResult(created=created, errors=errors)
