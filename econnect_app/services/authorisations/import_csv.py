"""Many requests at once from a CSV file: one request per valid row, every other row reported.

Reading never guesses silently: the bytes are decoded as UTF-8 (with or without BOM), UTF-16 with a
BOM, or else Windows-1252 (what Excel saves in the Netherlands), and the caller shows which. Records
are read strictly: a quote that is never closed, a cell too long to be a name or an address, or a
line the CSV reader cannot read is reported as that line's error and reading goes on with the next
line, so one bad line never swallows the rows after it.

The page first shows a preview (``preview_import``: the rows ready to send and why each other row
is not, writing nothing), then sends (``import_requests_csv``), which checks every row again with the
same checks (``_RowChecker``). The rows are committed in groups of ``GROUP_ROWS`` (one transaction
each: a commit per row would cost more than the row), each row in a SAVEPOINT of its group: a valid
row is saved (with its link, its email in the outbox and its activity) whatever the other rows hold,
a refused row writes nothing and leaves the group's other rows as they were. A failure on our side
stops the import after committing the rows before it; should that commit fail too, the import ends
with whole groups saved, never a request without its email or activity. The result says exactly
which rows were saved and why each other row was not, naming its client. ``csv_template`` is the
file to fill in.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from babel.numbers import format_decimal
from sqlmodel import Session

from econnect_app import i18n, write_turns
from econnect_app.mail.outbox import languages_read_ahead
from econnect_app.models import Environment, SoftwarePackage, User, organisation_key
from econnect_app.services.authorisations._input import CleanRequest, clean_input, own_addresses
from econnect_app.services.authorisations.sending import (
    WrittenWithoutSavepoint,
    add_checked,
    count_requests,
    pending_pairs,
    require_sender,
)
from econnect_app.services.errors import DomainError, ValidationFailed
from econnect_app.services.software_packages import list_software_packages, match_software_package
from econnect_app.services.throttle import Limited
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldError, clean_email

logger = logging.getLogger(__name__)

MAX_IMPORT_ROWS = 1000
# Rows committed together (each in its own SAVEPOINT): few enough that another writer of the
# database (the outbox worker, sending the group's emails meanwhile) waits little for its turn
# (``write_turns``).
GROUP_ROWS = 20
MAX_CELL_CHARACTERS = 1000
CSV_FILE_SUFFIXES: tuple[str, ...] = (".csv", ".txt")
# The columns as the template names them (English; a message naming one translates it).
CSV_COLUMNS: tuple[str, ...] = (
    i18n.N_("client name"),
    i18n.N_("email"),
    i18n.N_("software package"),
    i18n.N_("organisation"),
)
TEMPLATE_FILENAME = "econnect-authorisation-requests.csv"
TEMPLATE_EXAMPLE_ROW: tuple[str, ...] = ("Jan de Boer", "jan@example.com", "Twinfield", "De Boer Installatie BV")
# Messages marked for translation; shown as ``i18n.gettext(...)``. ``CELL_TOO_LONG_MESSAGE`` is the
# English text of ``CELL_TOO_LONG_TEXT``.
MISSING_COLUMNS_MESSAGE = i18n.N_(
    "The first row must name the columns: client name, email, software package and organisation."
)
NOT_A_CSV_FILE_MESSAGE = i18n.N_("Choose a CSV file (.csv or .txt), for example saved from Excel as CSV.")
NOT_TEXT_MESSAGE = i18n.N_(
    "This file is not a CSV file: it does not hold text. Save it from Excel as CSV and try again."
)
UNREADABLE_TEXT_MESSAGE = i18n.N_(
    "This file's text could not be read as UTF-8 or Windows-1252. Save it from Excel as "
    "CSV UTF-8 and try again."
)
UNCLOSED_QUOTE_MESSAGE = i18n.N_(
    'A quote (") on this line is not closed, or a quoted cell has a quote inside it. Put such a '
    'cell in quotes and write each quote inside it twice (""). Nothing was sent for this line.'
)
CELL_TOO_LONG_TEXT = i18n.N_("A cell holds more than {most} characters. Nothing was sent for this line.")
CELL_TOO_LONG_MESSAGE = CELL_TOO_LONG_TEXT.format(most=f"{MAX_CELL_CHARACTERS:,}")
UNEXPECTED_FAILURE_MESSAGE = i18n.N_(
    "Something went wrong on our side: this row and the {later} after it were not imported. "
    "The rows above it were saved. Try the rest again in a while."
)

# The encodings a file is read with, as the page names them.
UTF8 = "UTF-8"
UTF16 = "UTF-16"
WINDOWS_1252 = "Windows-1252"

# CSV header spellings (lower case, "_" and "-" read as spaces), English and Dutch -> their field.
_HEADER_ALIASES: dict[str, str] = {
    "client name": "client_name",
    "clientname": "client_name",
    "client": "client_name",
    "name": "client_name",
    "naam": "client_name",
    "klant": "client_name",
    "klantnaam": "client_name",
    "naam klant": "client_name",
    "contactpersoon": "client_name",
    "client email": "client_email",
    "clientemail": "client_email",
    "client email address": "client_email",
    "email": "client_email",
    "e mail": "client_email",
    "email address": "client_email",
    "e mail address": "client_email",
    "emailadres": "client_email",
    "e mailadres": "client_email",
    "e mail adres": "client_email",
    "software package": "software_package",
    "softwarepackage": "software_package",
    "software": "software_package",
    "package": "software_package",
    "accounting software": "software_package",
    "softwarepakket": "software_package",
    "software pakket": "software_package",
    "pakket": "software_package",
    "boekhoudpakket": "software_package",
    "boekhoudsoftware": "software_package",
    "organisation": "organisation",
    "organization": "organisation",
    "organisation name": "organisation",
    "organization name": "organisation",
    "organisatie": "organisation",
    "organisatienaam": "organisation",
    "naam organisatie": "organisation",
    "bedrijf": "organisation",
    "bedrijfsnaam": "organisation",
}
_CSV_FIELDS: tuple[str, ...] = ("client_name", "client_email", "software_package", "organisation")
_CSV_FIELD_LABELS = dict(zip(_CSV_FIELDS, CSV_COLUMNS, strict=True))
# A physical line ends after "\n", "\r\n" or a lone "\r" (the line end stays with its line).
_LINE_END = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")
_CLIENT_LABEL_MAX = 80

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class CsvText:
    """A decoded CSV file and the encoding it was read with (``UTF8``, ``UTF16``, ``WINDOWS_1252``)."""

    text: str
    encoding: str


@dataclass(frozen=True)
class RowError:
    """Why one CSV row created nothing: its line (counting from 1, the header being line 1; a
    record over several lines ends at ``last_line``), its client as the file names them, and why."""

    line: int
    message: str
    client: str = ""
    last_line: int = 0

    @property
    def lines(self) -> str:
        """The line to show: "7", or "7–9" for a record over several lines."""
        return f"{self.line}\u2013{self.last_line}" if self.last_line > self.line else str(self.line)


@dataclass(frozen=True)
class SavedRow:
    """A CSV row whose request was saved and whose email was queued."""

    line: int
    client: str
    request_id: int


@dataclass(frozen=True)
class ReadyRow:
    """A CSV row that passed every check of the preview: it will be sent (checked again then)."""

    line: int
    client: str


@dataclass(frozen=True)
class ImportPreview:
    """What an import of the file would send, before anything is sent: the rows ready to send and
    why each other row would not be sent."""

    ready: list[ReadyRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class BulkImportResult:
    """Exactly which rows were saved, and why each other row was not."""

    saved: list[SavedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def created(self) -> list[int]:
        """The ids of the saved requests, in file order."""
        return [row.request_id for row in self.saved]


def decode_csv_file(content: bytes, *, filename: str) -> CsvText:
    """The text of an uploaded CSV file; ValidationFailed({"file": ...}) for any other file.

    UTF-8 with or without BOM; UTF-16 with a BOM (Excel's "Unicode text"); otherwise Windows-1252.
    """
    if not (filename or "").lower().endswith(CSV_FILE_SUFFIXES):
        raise ValidationFailed({"file": i18n.gettext(NOT_A_CSV_FILE_MESSAGE)})
    decoded = _decode(content)
    if "\x00" in decoded.text:
        raise ValidationFailed({"file": i18n.gettext(NOT_TEXT_MESSAGE)})
    return decoded


def _decode(content: bytes) -> CsvText:
    if content.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return CsvText(content.decode("utf-16"), UTF16)
        except UnicodeDecodeError:
            raise ValidationFailed({"file": i18n.gettext(UNREADABLE_TEXT_MESSAGE)}) from None
    try:
        return CsvText(content.decode("utf-8-sig"), UTF8)
    except UnicodeDecodeError:
        pass
    try:
        return CsvText(content.decode("cp1252"), WINDOWS_1252)
    except UnicodeDecodeError:
        raise ValidationFailed({"file": i18n.gettext(UNREADABLE_TEXT_MESSAGE)}) from None


@dataclass(frozen=True)
class _Record:
    """One CSV record: its first and last physical line, and its cells (None: unreadable)."""

    line: int
    last_line: int
    cells: list[str] | None
    problem: str = ""


def _delimiter(lines: list[str]) -> str:
    """The delimiter: whichever of ";", "," and tab the first non-blank line holds most of ("," when
    it holds none)."""
    first_line = next((line for line in lines if line.strip()), "")
    delimiter = max((";", ",", "\t"), key=first_line.count)
    return delimiter if first_line.count(delimiter) else ","


def _records(text: str) -> Iterator[_Record]:
    """Every non-blank record, read strictly; an unreadable one is reported and reading goes on
    with the next physical line."""
    lines = [line for line in _LINE_END.split(text.lstrip("\ufeff")) if line]
    delimiter = _delimiter(lines)
    index = 0
    while index < len(lines):
        remaining = (lines[position] for position in range(index, len(lines)))
        reader = csv.reader(remaining, delimiter=delimiter, strict=True)
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield _Record(line=index + 1, last_line=index + 1, cells=None, problem=_problem(error))
            index += 1
            continue
        first, index = index + 1, index + max(reader.line_num, 1)
        if any(cell.strip() for cell in cells):
            yield _Record(line=first, last_line=index, cells=cells)


def _problem(error: csv.Error) -> str:
    """What a CSV reader error means for the person who saved the file."""
    text = str(error)
    if "field larger than field limit" in text:
        return _cell_too_long()
    if "unexpected end of data" in text or "expected after" in text:
        return i18n.gettext(UNCLOSED_QUOTE_MESSAGE)
    return i18n.gettext(
        "This line cannot be read as CSV ({error}). Nothing was sent for this line.", error=text
    )


def _cell_too_long() -> str:
    return i18n.gettext(
        CELL_TOO_LONG_TEXT, most=format_decimal(MAX_CELL_CHARACTERS, locale=i18n.language_in_effect())
    )


def _header_columns(header: list[str]) -> dict[str, int]:
    """Field name -> column index, from the header row (first spelling of a field wins)."""
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = " ".join(cell.replace("_", " ").replace("-", " ").lower().split())
        field_name = _HEADER_ALIASES.get(key)
        if field_name and field_name not in columns:
            columns[field_name] = index
    return columns


def _client_label(values: dict[str, str]) -> str:
    """The row's client as the file names them: "name <email>", or whichever of the two it has."""
    name = " ".join(values.get("client_name", "").split())
    email = values.get("client_email", "").strip()
    label = f"{name} <{email}>" if name and email else name or email
    return label if len(label) <= _CLIENT_LABEL_MAX else label[: _CLIENT_LABEL_MAX - 1] + "\u2026"


def _header_and_rows(csv_text: str) -> tuple[dict[str, int], list[_Record]]:
    """The columns named by the header and the data records; ValidationFailed for a file without
    a usable header."""
    records = list(_records(csv_text or ""))
    if not records:
        raise ValidationFailed(
            {"file": i18n.gettext("The file is empty.") + " " + i18n.gettext(MISSING_COLUMNS_MESSAGE)}
        )
    header, data_rows = records[0], records[1:]
    if header.cells is None:
        raise ValidationFailed(
            {
                "file": i18n.gettext("The first row cannot be read.")
                + " "
                + i18n.gettext(MISSING_COLUMNS_MESSAGE)
            }
        )
    columns = _header_columns(header.cells)
    missing = [i18n.gettext(_CSV_FIELD_LABELS[name]) for name in _CSV_FIELDS if name not in columns]
    if missing:
        raise ValidationFailed(
            {
                "file": i18n.gettext(MISSING_COLUMNS_MESSAGE)
                + " "
                + i18n.gettext("Missing: {columns}.", columns=", ".join(missing))
            }
        )
    return columns, data_rows


def csv_template() -> str:
    """The CSV file to fill in: the header row the import reads and one example row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(column.capitalize() for column in CSV_COLUMNS)
    writer.writerow(TEMPLATE_EXAMPLE_ROW)
    return buffer.getvalue()


def preview_import(session: Session, *, actor: User, csv_text: str) -> ImportPreview:
    """What ``import_requests_csv`` would do with this file, writing nothing: the rows ready to send
    and every other row with its reasons (the same checks, row by row, in the same order).

    Only what can change between now and the send is left to the send itself: the rate limits and a
    pending request to the same client sent too recently. Refuses like the import (the actor's
    right to send, a file without the four columns).
    """
    _, environment = require_sender(session, actor)
    columns, data_rows = _header_and_rows(csv_text)
    to_read, beyond_limit = data_rows[:MAX_IMPORT_ROWS], data_rows[MAX_IMPORT_ROWS:]
    checker = _RowChecker(session, environment=environment, columns=columns)
    ready: list[ReadyRow] = []
    errors: list[RowError] = []
    for record in to_read:
        checked = checker.check(record)
        if isinstance(checked, RowError):
            errors.append(checked)
            continue
        checker.accepted(record, checked.clean)
        ready.append(ReadyRow(line=record.line, client=checked.client))
    if beyond_limit:
        errors.append(_beyond_limit_error(beyond_limit))
    return ImportPreview(ready=ready, errors=errors)


def import_requests_csv(
    session: Session,
    *,
    actor: User,
    csv_text: str,
    on_progress: ProgressCallback | None = None,
) -> BulkImportResult:
    """Create one request per valid CSV row; report every other row with its line, client and reasons.

    Columns (header row required, in any order, ";", "," or tab separated, English or Dutch names):
    client name, email, software package (name or slug), organisation. Each row is checked again
    here (whatever a preview said) and saved in its own SAVEPOINT of a group of ``GROUP_ROWS`` rows
    committed together, so valid rows are kept whatever the other rows hold; the result lists
    exactly the rows saved. At most ``MAX_IMPORT_ROWS`` rows are read. A file without the four
    columns raises ValidationFailed({"file": ...}).

    ``on_progress(done, total)`` is called after each data row is handled (saved in its group's
    transaction, or refused); ``total`` is the number of data rows that will be read.
    """
    actor, environment = require_sender(session, actor)
    columns, data_rows = _header_and_rows(csv_text)
    to_read, beyond_limit = data_rows[:MAX_IMPORT_ROWS], data_rows[MAX_IMPORT_ROWS:]
    importer = _RowImporter(session, actor=actor, environment=environment, columns=columns)
    positions = {id(record): position for position, record in enumerate(to_read, start=1)}
    done = 0

    def handled(record: _Record) -> None:
        nonlocal done
        if positions[id(record)] > done:  # a group handled again (row by row) reports nothing twice
            done = positions[id(record)]
            if on_progress is not None:
                on_progress(done, len(to_read))

    for start in range(0, len(to_read), GROUP_ROWS):
        stopped_at = importer.import_group(to_read[start : start + GROUP_ROWS], on_row=handled)
        if stopped_at is not None:  # a bug or a database failure: say exactly what was saved, then stop
            later = len(to_read) - to_read.index(stopped_at) - 1 + len(beyond_limit)
            importer.errors.append(
                RowError(line=stopped_at.line, message=i18n.gettext(UNEXPECTED_FAILURE_MESSAGE, later=later))
            )
            return BulkImportResult(saved=importer.saved, errors=importer.errors)
    if beyond_limit:
        importer.errors.append(_beyond_limit_error(beyond_limit))
    return BulkImportResult(saved=importer.saved, errors=importer.errors)


def _beyond_limit_error(beyond_limit: list[_Record]) -> RowError:
    return RowError(
        line=beyond_limit[0].line,
        message=i18n.gettext(
            "A file can hold at most {most} requests: this row and the {later} after it were not imported. "
            "Upload them in another file.",
            most=MAX_IMPORT_ROWS,
            later=len(beyond_limit) - 1,
        ),
    )


@dataclass(frozen=True)
class _CheckedRow:
    """A data row whose fields passed every check: the request to send and its client's label."""

    clean: CleanRequest
    client: str


class _RowChecker:
    """The checks of one data row, shared by the preview and the import (in file order).

    A row repeating the client email and organisation of an earlier accepted row is a duplicate of
    that row; ``accepted`` records a row as such (sent, or ready to send in a preview).
    """

    def __init__(self, session: Session, *, environment: Environment, columns: dict[str, int]) -> None:
        self.session = session
        self.environment = environment
        self.columns = columns
        # Read once for the whole file: the catalogue and the environment's own addresses.
        self.packages = list_software_packages(session)
        self.package_names = ", ".join(package.name for package in self.packages)
        self.own = own_addresses(session, environment_id=environment.id)  # type: ignore[arg-type]
        self.accepted_lines: dict[tuple[str, str], int] = {}  # (client email, organisation) -> its line

    def check(self, record: _Record) -> _CheckedRow | RowError:
        """The row's checked request, or its error."""
        if record.cells is None:
            return _row_error(record, record.problem, client="")
        cells = record.cells
        values = {name: cells[index] if index < len(cells) else "" for name, index in self.columns.items()}
        client = _client_label(values)
        if any(len(cell) > MAX_CELL_CHARACTERS for cell in cells):
            return _row_error(record, _cell_too_long(), client=client)
        try:
            clean = clean_input(
                self.session,
                environment_id=self.environment.id,  # type: ignore[arg-type]
                client_name=values["client_name"],
                client_email=values["client_email"],
                package=self._package(values["software_package"]),
                package_message=self._package_message(values["software_package"]),
                organisation_name=values["organisation"],
                extra=self._duplicate(values),
                own=self.own,
            )
        except ValidationFailed as error:
            return _row_error(record, " ".join(error.errors.values()), client=client)
        return _CheckedRow(clean=clean, client=client)

    def accepted(self, record: _Record, clean: CleanRequest) -> None:
        """Later rows to the same client email and organisation are duplicates of this one."""
        self.accepted_lines[(clean.client_email, organisation_key(clean.organisation_name))] = record.line

    def _package(self, text: str) -> SoftwarePackage | None:
        text = text.strip()
        return match_software_package(self.packages, text) if text else None

    def _package_message(self, text: str) -> str:
        text = " ".join(text.split())
        if not text:
            return i18n.gettext("Enter the software package.")
        return i18n.gettext(
            'Unknown software package "{name}". Use one of: {names}.', name=text, names=self.package_names
        )

    def _duplicate(self, values: dict[str, str]) -> dict[str, str]:
        """{"client_email": "Duplicate of line N."} when an earlier row was accepted for the same request."""
        try:
            address = clean_email(values["client_email"])
        except FieldError:
            return {}
        line = self.accepted_lines.get((address, organisation_key(values["organisation"])))
        if line is None:
            return {}
        return {"client_email": i18n.gettext("Duplicate of line {line}.", line=line)}


def _row_error(record: _Record, message: str, *, client: str) -> RowError:
    last_line = record.last_line if record.last_line > record.line else 0
    return RowError(line=record.line, message=message, client=client, last_line=last_line)


class _NotQuickly(Exception):
    """A group written quickly did not fit the rate limits, or one of its rows could not be written:
    nothing of the group is kept."""


class _RowImporter:
    """Checks and saves the data rows a group at a time (one transaction per group) and keeps the
    report.

    A group is first written quickly: its requests are counted towards the rate limits together,
    once, before its commit, and each row is written without a SAVEPOINT of its own (per row, a
    count costs more round trips to Redis than the row's own writes, and a SAVEPOINT two more to
    the database). Should that fail (the group does not fit the limits, or a row's write failed:
    a race on the unique index, say), the group is rolled back and written again carefully, and so
    is the rest of the file: each row in its own SAVEPOINT and counted on its own, so exactly the
    rows that fit the limits are sent and a failing row leaves the others as they were.
    """

    def __init__(
        self, session: Session, *, actor: User, environment: Environment, columns: dict[str, int]
    ) -> None:
        self.session = session
        self.actor = actor
        self.environment = environment
        self.checker = _RowChecker(session, environment=environment, columns=columns)
        self.saved: list[SavedRow] = []
        self.errors: list[RowError] = []
        self.quickly = True  # until a group written quickly fails

    def import_group(self, records: list[_Record], *, on_row: Callable[[_Record], None]) -> _Record | None:
        """Handle each row of ``records`` (``on_row`` after each) and commit the group's requests
        together. None when every row was handled; else the row from which nothing more was
        imported after a failure on our side: the failing row (the rows before it committed), or
        the group's first row when even that commit failed (nothing of the group kept)."""
        if self.quickly:
            try:
                return self._import_group(records, on_row=on_row, quickly=True)
            except _NotQuickly:
                self.quickly = False  # this group and the rest of the file: carefully
        return self._import_group(records, on_row=on_row, quickly=False)

    def _import_group(
        self, records: list[_Record], *, on_row: Callable[[_Record], None], quickly: bool
    ) -> _Record | None:
        saved, errors = len(self.saved), len(self.errors)
        accepted = dict(self.checker.accepted_lines)

        def forget_group() -> None:
            del self.saved[saved:], self.errors[errors:]
            self.checker.accepted_lines = accepted

        stopped_at: _Record | None = None
        try:
            with write_turns.turn(self.session.get_bind().engine), committing(self.session):
                _begin_group(self.session)
                emails = self._client_emails(records)
                pending = pending_pairs(self.session, environment_id=self.environment.id, client_emails=emails)  # type: ignore[arg-type]
                with languages_read_ahead(self.session, emails):
                    for record in records:
                        try:
                            self.import_row(record, pending=pending, quickly=quickly)
                        except WrittenWithoutSavepoint:
                            raise
                        except Exception:
                            logger.exception("CSV import stopped at line %s", record.line)
                            stopped_at = record
                            break
                        on_row(record)
                if quickly:
                    count_requests(self.environment, len(self.saved) - saved)
        except Exception as failure:
            forget_group()
            if quickly and isinstance(failure, Limited | WrittenWithoutSavepoint):  # nothing of it kept
                if isinstance(failure, WrittenWithoutSavepoint):
                    logger.warning("CSV import: writing again carefully from line %s", records[0].line, exc_info=True)
                raise _NotQuickly from None
            logger.exception("CSV import: the rows from line %s on could not be saved", records[0].line)
            return records[0]
        return stopped_at

    def _client_emails(self, records: list[_Record]) -> set[str]:
        """The valid client addresses of ``records``: the group's Pending requests a row could
        replace and the languages its emails are written in are read for them at once (one query
        each for the group, instead of one per row)."""
        index = self.checker.columns["client_email"]
        emails = set()
        for record in records:
            if record.cells is not None and index < len(record.cells):
                try:
                    emails.add(clean_email(record.cells[index]))
                except FieldError:
                    continue
        return emails

    def import_row(
        self, record: _Record, *, pending: set[tuple[str, str]] | None = None, quickly: bool = False
    ) -> None:
        """Save the row's request in the group's transaction, or add the row's error to the report
        (nothing of the row written). ``pending``: the group's ``pending_pairs``; ``quickly``:
        without a SAVEPOINT (``WrittenWithoutSavepoint`` when the write fails) and not counted
        towards the rate limits (the group counts its requests itself)."""
        checked = self.checker.check(record)
        if isinstance(checked, RowError):
            self.errors.append(checked)
            return
        try:
            request = add_checked(
                self.session,
                actor=self.actor,
                environment=self.environment,
                clean=checked.clean,
                pending=pending,
                counted=not quickly,
                savepoint=not quickly,
            )
        except ValidationFailed as error:
            self.errors.append(_row_error(record, " ".join(error.errors.values()), client=checked.client))
        except DomainError as error:
            self.errors.append(_row_error(record, error.message, client=checked.client))
        else:
            self.saved.append(SavedRow(line=record.line, client=checked.client, request_id=request.id))  # type: ignore[arg-type]
            self.checker.accepted(record, checked.clean)


def _begin_group(session: Session) -> None:
    """Begin the group's transaction for real before its first SAVEPOINT.

    Python's sqlite3 module issues BEGIN lazily, before the first INSERT/UPDATE/DELETE: a SAVEPOINT
    sent before that would start the transaction itself, and releasing it would commit. On SQLite the
    group takes the write lock at once (BEGIN IMMEDIATE): a transaction that read first could not
    write any more once another writer (the outbox worker) had committed meanwhile.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is not None and not dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
