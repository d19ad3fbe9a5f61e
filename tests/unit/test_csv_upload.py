"""The CSV upload on /authorisations/new (pages/new_authorisation.py): the session is checked before
the file is read, a file over the size limit is refused before it is read whole, and every file gets
a clear outcome (no handler crash), naming the encoding it was read with. Choosing a file only
previews it (nothing sent, its bytes kept in a backend-only var); ``send_csv`` then sends it.

The background handler runs as Reflex runs it (its async generator to the end) on a real state tree
with a real database; the upload arrives as Reflex's chunk iterator would deliver it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import reflex as rx
from reflex_base.event import Event
from reflex_components_core.core._upload import UploadChunk, UploadChunkIterator
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

import econnect_app.db as db_module
from econnect_app.models import AuthorisationRequest, Environment, Plan, Role, SoftwarePackage, User
from econnect_app.pages import new_authorisation
from econnect_app.pages.new_authorisation import CSV_MAX_BYTES, NewAuthorisationState
from econnect_app.services import sessions
from econnect_app.services.authorisations import import_csv

CHUNK_BYTES = 64 * 1024


class Upload(UploadChunkIterator):
    """The chunks of one uploaded file, counting how many the handler read."""

    def __init__(self, content: bytes, *, filename: str = "clients.csv", endless: bool = False) -> None:
        super().__init__()
        self.read_chunks = 0
        self._parts = self._chunks_of(content, filename, endless)

    @staticmethod
    def _chunks_of(content: bytes, filename: str, endless: bool) -> Iterator[UploadChunk]:
        offset = 0
        while offset < len(content) or endless:
            data = content[offset : offset + CHUNK_BYTES] if not endless else b"x" * CHUNK_BYTES
            yield UploadChunk(filename=filename, offset=offset, content_type="text/csv", data=data)
            offset += len(data)

    async def __anext__(self) -> UploadChunk:
        try:
            chunk = next(self._parts)
        except StopIteration:
            raise StopAsyncIteration from None
        self.read_chunks += 1
        return chunk


@pytest.fixture()
def page(session: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> NewAuthorisationState:
    """The /authorisations/new state of a tab whose administrator (Basic plan) is logged in."""
    monkeypatch.setattr(db_module, "get_engine", lambda: engine)
    environment = Environment(name="Mulder Fiscaal", plan=Plan.BASIC.value)
    session.add(environment)
    session.commit()
    user = User(environment_id=environment.id, name="Lisa", email="lisa@example.com", role=Role.ADMINISTRATOR.value)
    session.add_all([user, SoftwarePackage(slug="twinfield", name="Twinfield", instructions="Paste the keys.")])
    session.commit()
    root = rx.State(_reflex_internal_init=True)
    state = root.get_substate(NewAuthorisationState.get_full_name().split("."))
    assert isinstance(state, NewAuthorisationState)
    state.session_cookie = sessions.start_session(session, user=user)
    return state


def run_handler(state: NewAuthorisationState, name: str, *args: Any) -> str:
    """Run a background handler to its end; the events the browser gets, as text."""

    async def run() -> list[Any]:
        handler = NewAuthorisationState.event_handlers[name].fn
        return [update async for update in handler(state, *args)]

    updates = asyncio.run(run())
    return " ".join(str(event) for update in updates if update for event in Event.from_event_type(update))


def upload(state: NewAuthorisationState, chunks: Upload) -> str:
    """Choose the file: its preview."""
    return run_handler(state, "preview_csv", chunks)


def send(state: NewAuthorisationState) -> str:
    """Click ``Send N requests``."""
    return run_handler(state, "send_csv")


def requests(session: Session) -> list[AuthorisationRequest]:
    session.expire_all()
    return list(session.exec(select(AuthorisationRequest)))


def test_a_file_over_the_limit_is_refused_without_being_read_whole(
    page: NewAuthorisationState, session: Session
) -> None:
    chunks = Upload(b"", endless=True)  # a file without end: the handler must stop by itself

    events = upload(page, chunks)

    assert new_authorisation.FILE_TOO_LARGE_MESSAGE in events
    assert chunks.read_chunks == CSV_MAX_BYTES // CHUNK_BYTES + 1  # just past the limit, not one more
    assert requests(session) == []
    assert not page.checking and page.preview_ready == -1


def test_an_invalid_session_goes_to_the_log_in_page_before_the_file_is_read(
    page: NewAuthorisationState, session: Session
) -> None:
    page.session_cookie = "not-a-session"
    chunks = Upload(b"client name,email,software package,organisation\n")

    events = upload(page, chunks)

    assert "/login?next=" in events
    assert chunks.read_chunks == 0
    assert not page.checking and page.preview_ready == -1


def test_dutch_column_names_import_and_the_report_names_each_client(
    page: NewAuthorisationState, session: Session
) -> None:
    text = (
        "Naam;E-mail;Softwarepakket;Organisatie\n"
        "Jan de Boer;jan@example.com;Twinfield;De Boer Installatie BV\n"
        "Els Kok;not-an-email;Twinfield;Kok Catering\n"
    )

    upload(page, Upload(text.encode()))

    assert requests(session) == []  # the preview sends nothing
    assert page.preview_ready == 1
    assert [(row.lines, row.client) for row in page.preview_errors] == [("3", "Els Kok <not-an-email>")]
    assert page.preview_summary == (
        "clients.csv: 1 row is ready to send. 1 row has errors (listed below). Nothing has been sent yet. "
        "The file was read as UTF-8."
    )
    assert page.send_label == "Send 1 request"

    events = send(page)

    assert "1 requests sent; 1 rows were not sent" in events
    assert [request.client_name for request in requests(session)] == ["Jan de Boer"]
    assert [(row.lines, row.client) for row in page.import_saved] == [("2", "Jan de Boer <jan@example.com>")]
    assert [(row.lines, row.client) for row in page.import_errors] == [("3", "Els Kok <not-an-email>")]
    assert page.import_summary.startswith("1 requests sent. 1 rows were not sent")
    assert page.import_encoding_note == "The file was read as UTF-8."


def test_a_windows_1252_file_is_read_and_says_so(page: NewAuthorisationState, session: Session) -> None:
    text = "Client name,Email,Software package,Organisation\nJosé Müller,jose@example.com,Twinfield,Café BV\n"

    upload(page, Upload(text.encode("cp1252")))
    assert "Windows-1252" in page.preview_summary
    send(page)

    [request] = requests(session)
    assert (request.client_name, request.organisation_name) == ("José Müller", "Café BV")
    assert "Windows-1252" in page.import_summary


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"Dear client,\nplease find attached...\n", "letter.txt", import_csv.MISSING_COLUMNS_MESSAGE),
        (b"client name,email\n", "clients.xlsx", import_csv.NOT_A_CSV_FILE_MESSAGE),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv", import_csv.NOT_TEXT_MESSAGE),
    ],
)
def test_any_other_file_gets_a_clear_message_beside_the_upload(
    page: NewAuthorisationState, session: Session, content: bytes, filename: str, message: str
) -> None:
    upload(page, Upload(content, filename=filename))  # no "must only return/yield" TypeError

    assert message in page.field_errors["file"]
    assert requests(session) == []
    assert not page.checking and page.preview_ready == -1 and page.import_created == -1


def test_the_previewed_file_waits_in_a_backend_only_var_and_is_sent_once(
    page: NewAuthorisationState, session: Session
) -> None:
    content = b"client name,email,software package,organisation\nJan,jan@example.com,Twinfield,Jan BV\n"
    upload(page, Upload(content))

    assert page._csv_content == content
    assert not any("csv_content" in name for name in NewAuthorisationState.base_vars)  # never sent to the browser
    assert not any(content.decode() in str(value) for value in page.dict().values())

    send(page)
    assert send(page) == ""  # a second click finds nothing left to send
    assert [request.client_name for request in requests(session)] == ["Jan"]
    assert page._csv_content == b"" and page.preview_ready == -1


def test_cancel_forgets_the_file_and_sends_nothing(page: NewAuthorisationState, session: Session) -> None:
    upload(page, Upload(b"client name,email,software package,organisation\nJan,jan@example.com,Twinfield,Jan BV\n"))

    NewAuthorisationState.event_handlers["cancel_csv"].fn(page)
    send(page)

    assert page._csv_content == b"" and page.preview_ready == -1
    assert requests(session) == []
