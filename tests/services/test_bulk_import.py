"""Bulk authorisation requests from a CSV file: one request per valid row, every bad row reported."""

from __future__ import annotations

import codecs
from datetime import timedelta

import pytest
from conftest_factories import activities, count, make_admin, make_environment, make_user, outbox
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from econnect_app import security
from econnect_app.models import (
    ActivityLog,
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    OutboxMessage,
    Plan,
    Role,
    SoftwarePackage,
    User,
)
from econnect_app.services import authorisations
from econnect_app.services.authorisations import BulkImportResult, RowError, import_csv, sending
from econnect_app.services.authorisations.import_csv import SavedRow
from econnect_app.services.errors import Conflict, PermissionDenied, PlanLimitReached, ValidationFailed

HEADER = "client name,email,software package,organisation"


@pytest.fixture(autouse=True)
def packages(session: Session) -> None:
    """Catalogue rows (the migration seeds them in real databases; create_all does not)."""
    for order, (slug, name) in enumerate(
        [("exact-online", "Exact Online"), ("twinfield", "Twinfield"), ("e-boekhouden", "e-Boekhouden")]
    ):
        session.add(SoftwarePackage(slug=slug, name=name, instructions=f"Set up {name}.", sort_order=order))
    session.commit()


@pytest.fixture()
def firm(session: Session) -> Environment:
    return make_environment(session, name="De Vries Administratie", plan=Plan.PROFESSIONAL.value)


@pytest.fixture()
def anna(session: Session, firm: Environment) -> User:
    return make_admin(session, firm, name="Anna de Vries", email="anna@devries.example")


def requests_by_email(session: Session) -> dict[str, AuthorisationRequest]:
    session.expire_all()
    rows = session.exec(select(AuthorisationRequest).order_by(AuthorisationRequest.id))
    return {row.client_email: row for row in rows if row.status == AuthorisationStatus.PENDING.value}


def run(session: Session, actor: User, text: str) -> BulkImportResult:
    return authorisations.import_requests_csv(session, actor=actor, csv_text=text)


def test_valid_rows_are_created_and_invalid_rows_reported_with_line_and_reasons(
    session: Session, anna: User
) -> None:
    text = "\n".join(
        [
            HEADER,
            "Piet Bakker,piet@example.com,Exact Online,Bakkerij Piet BV",  # line 2: ok
            ",not-an-email,Quickbooks,",  # line 3: four problems
            "Klaas Vos,klaas@vos.example,twinfield,Vos & Zn",  # line 4: ok (slug, lower case)
            "Marie,marie@example.com,,Jansen BV",  # line 5: no package
            "Joop,joop@example.com,E-BOEKHOUDEN,Joop Installaties",  # line 6: ok
        ]
    )
    result = run(session, anna, text)

    created = requests_by_email(session)
    assert sorted(created) == ["joop@example.com", "klaas@vos.example", "piet@example.com"]
    assert result.created == [
        created[email].id for email in ("piet@example.com", "klaas@vos.example", "joop@example.com")
    ]
    assert [error.line for error in result.errors] == [3, 5]
    assert result.errors[0].message == (
        "Enter the client's name. "
        "Enter a valid email address, like name@example.com. "
        'Unknown software package "Quickbooks". Use one of: Exact Online, Twinfield, e-Boekhouden. '
        "Enter the organisation name."
    )
    assert result.errors[1] == RowError(line=5, message="Enter the software package.", client="Marie <marie@example.com>")

    klaas = created["klaas@vos.example"]
    assert (klaas.client_name, klaas.organisation_name) == ("Klaas Vos", "Vos & Zn")
    assert session.get(SoftwarePackage, klaas.software_package_id).slug == "twinfield"  # type: ignore[union-attr]
    assert count(session, AuthorisationRequest) == 3
    assert count(session, AuthorisationLink) == 3
    assert [message.to_address for message in outbox(session)] == [
        "piet@example.com",
        "klaas@vos.example",
        "joop@example.com",
    ]
    assert len(activities(session, action="authorisation.created")) == 3


def test_each_emailed_link_matches_its_stored_hash(session: Session, anna: User) -> None:
    run(session, anna, f"{HEADER}\nPiet,piet@example.com,Exact Online,Bakkerij Piet BV\n")
    [message] = outbox(session)
    token = message.text_body.split("/activate/")[1].split()[0]
    [link] = session.exec(select(AuthorisationLink)).all()
    assert link.token_hash == security.hash_token(token)


@pytest.mark.parametrize(
    "header",
    [
        "client_name,client_email,software_package,organisation",
        "Client name,Client email,Software package,Organisation",
        "CLIENT NAME,EMAIL,SOFTWARE PACKAGE,ORGANIZATION",
        "Client Name , E-mail , Software , Organisation name",
        "client-name,email address,package,organization name",
    ],
)
def test_header_spellings(session: Session, anna: User, header: str) -> None:
    result = run(session, anna, f"{header}\nPiet,piet@example.com,Exact Online,Bakkerij Piet BV\n")
    assert (len(result.created), result.errors) == (1, [])


def test_columns_in_any_order_and_extra_columns_are_ignored(session: Session, anna: User) -> None:
    text = (
        "Notes;Organisation;Email;Client name;Software package\n"
        "call first;Bakkerij Piet BV;piet@example.com;Piet;Exact Online\n"
    )
    result = run(session, anna, text)
    assert result.errors == []
    row = requests_by_email(session)["piet@example.com"]
    assert (row.client_name, row.organisation_name) == ("Piet", "Bakkerij Piet BV")


def test_semicolons_a_bom_windows_line_ends_and_quotes(session: Session, anna: User) -> None:
    text = (
        "\ufeffClient name;Email;Software package;Organisation\r\n"
        '"Bakker, Piet";piet@example.com;Exact Online;"Bakkerij; Piet BV"\r\n'
        "Klaas;klaas@example.com;Twinfield;Vos BV\r\n"
    )
    result = run(session, anna, text)
    assert (len(result.created), result.errors) == (2, [])
    piet = requests_by_email(session)["piet@example.com"]
    assert (piet.client_name, piet.organisation_name) == ("Bakker, Piet", "Bakkerij; Piet BV")


def test_tab_separated_works_too(session: Session, anna: User) -> None:
    text = "client name\temail\tsoftware package\torganisation\nPiet\tpiet@example.com\tOther-less\tX BV\n"
    result = run(session, anna, text)
    assert result.created == []
    assert result.errors[0].message.startswith('Unknown software package "Other-less".')


def test_blank_lines_are_skipped_but_line_numbers_stay_physical(session: Session, anna: User) -> None:
    text = f"\n{HEADER}\n\nPiet,piet@example.com,Exact Online,Bakkerij Piet BV\n,,,\n\nKlaas,bad,Twinfield,Vos BV\n"
    result = run(session, anna, text)
    assert len(result.created) == 1
    assert result.errors == [
        RowError(line=7, message="Enter a valid email address, like name@example.com.", client="Klaas <bad>")
    ]


def test_line_numbers_follow_quoted_line_breaks(session: Session, anna: User) -> None:
    text = f'{HEADER}\n"Piet",piet@example.com,Exact Online,"Bakkerij\nPiet BV"\nKlaas,,Twinfield,Vos BV\n'
    result = run(session, anna, text)
    assert [error.line for error in result.errors] == [4]


def test_a_duplicate_email_in_the_file_is_an_error_row(session: Session, anna: User) -> None:
    text = "\n".join(
        [
            HEADER,
            "Piet,piet@example.com,Exact Online,Bakkerij Piet BV",
            "Klaas,klaas@example.com,Twinfield,Vos BV",
            "Piet again,PIET@example.com,Twinfield,bakkerij  piet bv",
            "Piet thrice,piet@example.com,,Bakkerij Piet BV",
            "Piet's other company,piet@example.com,Twinfield,Piet Catering BV",
        ]
    )
    result = run(session, anna, text)
    assert len(result.created) == 3
    assert result.errors == [
        RowError(line=4, message="Duplicate of line 2.", client="Piet again <PIET@example.com>"),
        RowError(
            line=5,
            message="Duplicate of line 2. Enter the software package.",
            client="Piet thrice <piet@example.com>",
        ),
    ]
    pending = session.exec(
        select(AuthorisationRequest.organisation_name).where(AuthorisationRequest.client_email == "piet@example.com")
    ).all()
    assert sorted(pending) == ["Bakkerij Piet BV", "Piet Catering BV"]
    assert count(session, AuthorisationRequest) == 3


def test_a_duplicate_of_an_invalid_row_is_imported(session: Session, anna: User) -> None:
    """Only a row that created a request counts as the original."""
    text = f"{HEADER}\nPiet,piet@example.com,,Bakkerij Piet BV\nPiet,piet@example.com,Exact Online,Bakkerij Piet BV\n"
    result = run(session, anna, text)
    assert len(result.created) == 1
    assert result.errors == [RowError(line=2, message="Enter the software package.", client="Piet <piet@example.com>")]


def test_a_pending_request_from_before_is_replaced(session: Session, anna: User) -> None:
    first = run(session, anna, f"{HEADER}\nPiet,piet@example.com,Exact Online,Old BV\n").created[0]
    earlier = session.get(AuthorisationRequest, first)
    earlier.last_sent_at -= timedelta(minutes=11)  # type: ignore[union-attr]  # past the interval Resend has too
    session.commit()
    second = run(session, anna, f"{HEADER}\nPiet,piet@example.com,Exact Online,OLD BV\n").created[0]
    session.expire_all()
    old = session.get(AuthorisationRequest, first)
    assert old is not None
    assert (old.status, old.replaced_by_id) == (AuthorisationStatus.WITHDRAWN.value, second)
    [old_link] = session.exec(select(AuthorisationLink).where(AuthorisationLink.request_id == first)).all()
    assert old_link.voided_at is not None
    assert len(activities(session, action="authorisation.replaced")) == 1


def test_an_own_address_in_the_file_is_an_error_row(session: Session, anna: User) -> None:
    result = run(session, anna, f"{HEADER}\nAnna,anna@devries.example,Exact Online,Self BV\n")
    assert result.created == []
    assert result.errors == [
        RowError(
            line=2, message="This address belongs to your own environment.", client="Anna <anna@devries.example>"
        )
    ]


def test_rows_beyond_the_limit_are_reported_once(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_csv, "MAX_IMPORT_ROWS", 2)
    rows = [f"Client {n},client{n}@example.com,Exact Online,Org {n}" for n in range(1, 6)]
    result = run(session, anna, "\n".join([HEADER, *rows]))
    assert len(result.created) == 2
    assert result.errors == [
        RowError(
            line=4,
            message=(
                "A file can hold at most 2 requests: this row and the 2 after it were not "
                "imported. Upload them in another file."
            ),
        )
    ]
    assert count(session, AuthorisationRequest) == 2


def test_progress_is_reported_after_each_row(session: Session, anna: User) -> None:
    """``on_progress(done, total)`` after every data row, created or refused; total known from the start."""
    rows = [
        "Piet,piet@example.com,Exact Online,Piet BV",
        ",not-an-email,Exact Online,",  # refused: still counted as handled
        "",  # blank lines are no rows
        "Klaas,klaas@example.com,Twinfield,Vos BV",
    ]
    calls: list[tuple[int, int]] = []
    created_when_called: list[int] = []

    def on_progress(done: int, total: int) -> None:
        calls.append((done, total))
        created_when_called.append(count(session, AuthorisationRequest))

    result = authorisations.import_requests_csv(
        session, actor=anna, csv_text="\n".join([HEADER, *rows]), on_progress=on_progress
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert created_when_called == [1, 1, 2]  # called after the row is written (in its group's transaction)
    assert len(result.created) == 2 and len(result.errors) == 1


def test_progress_counts_only_the_rows_that_will_be_read(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_csv, "MAX_IMPORT_ROWS", 2)
    rows = [f"Client {n},client{n}@example.com,Exact Online,Org {n}" for n in range(1, 6)]
    calls: list[tuple[int, int]] = []
    authorisations.import_requests_csv(
        session, actor=anna, csv_text="\n".join([HEADER, *rows]), on_progress=lambda *call: calls.append(call)
    )
    assert calls == [(1, 2), (2, 2)]


def test_a_header_only_file_reports_no_progress(session: Session, anna: User) -> None:
    calls: list[tuple[int, int]] = []
    authorisations.import_requests_csv(
        session, actor=anna, csv_text=HEADER, on_progress=lambda *call: calls.append(call)
    )
    assert calls == []


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("name,email,organisation\nPiet,piet@example.com,Piet BV\n", "Missing: software package."),
        ("foo;bar\n1;2\n", "Missing: client name, email, software package, organisation."),
        (
            "Piet,piet@example.com,Exact Online,Bakkerij Piet BV\n",
            "Missing: client name, email, software package, organisation.",
        ),
    ],
)
def test_a_file_without_the_columns_is_refused(session: Session, anna: User, text: str, missing: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        run(session, anna, text)
    assert set(caught.value.errors) == {"file"}
    assert caught.value.errors["file"].endswith(missing)
    assert count(session, AuthorisationRequest) == 0


@pytest.mark.parametrize("text", ["", "\ufeff", "\n\n  \n"])
def test_an_empty_file_is_refused(session: Session, anna: User, text: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        run(session, anna, text)
    assert caught.value.errors["file"].startswith("The file is empty.")


def test_a_header_only_file_creates_nothing(session: Session, anna: User) -> None:
    assert run(session, anna, HEADER + "\n") == BulkImportResult(saved=[], errors=[])


def test_a_user_may_not_import(session: Session, firm: Environment) -> None:
    plain_user = make_user(session, firm, role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        run(session, plain_user, f"{HEADER}\nPiet,piet@example.com,Exact Online,Piet BV\n")
    assert count(session, AuthorisationRequest) == 0
    assert count(session, OutboxMessage) == 0


def test_the_invoice_portal_plan_may_not_import(session: Session) -> None:
    environment = make_environment(session, plan=Plan.INVOICE_PORTAL.value)
    admin = make_admin(session, environment)
    with pytest.raises(PlanLimitReached):
        run(session, admin, f"{HEADER}\nPiet,piet@example.com,Exact Online,Piet BV\n")
    assert count(session, AuthorisationRequest) == 0


def test_an_advanced_user_may_import(session: Session, firm: Environment) -> None:
    advanced = make_user(session, firm, role=Role.ADVANCED_USER.value)
    result = run(session, advanced, f"{HEADER}\nPiet,piet@example.com,Exact Online,Piet BV\n")
    assert len(result.created) == 1


# --- reading the file: encodings, other files, Dutch headers, broken lines ---------------------------


def test_dutch_column_names_are_understood(session: Session, anna: User) -> None:
    text = "Naam;E-mail;Softwarepakket;Organisatie\nPiet Bakker;piet@example.com;Exact Online;Bakkerij Piet BV\n"
    result = run(session, anna, text)
    assert result.errors == []
    piet = requests_by_email(session)["piet@example.com"]
    assert (piet.client_name, piet.organisation_name) == ("Piet Bakker", "Bakkerij Piet BV")


def test_the_report_says_exactly_which_rows_were_saved_and_names_each_client(
    session: Session, anna: User
) -> None:
    text = "\n".join(
        [
            HEADER,
            "Piet Bakker,piet@example.com,Exact Online,Bakkerij Piet BV",
            "Klaas Vos,klaas@example.com,Quickbooks,Vos BV",
            ",joop@example.com,Twinfield,Joop BV",
            "Marie,marie@example.com,Twinfield,Marie BV",
        ]
    )
    result = run(session, anna, text)

    created = requests_by_email(session)
    assert result.saved == [
        SavedRow(line=2, client="Piet Bakker <piet@example.com>", request_id=created["piet@example.com"].id),
        SavedRow(line=5, client="Marie <marie@example.com>", request_id=created["marie@example.com"].id),
    ]
    assert [(error.line, error.client) for error in result.errors] == [
        (3, "Klaas Vos <klaas@example.com>"),
        (4, "joop@example.com"),
    ]


def test_an_unclosed_quote_is_that_lines_error_and_the_rows_after_it_are_still_read(
    session: Session, anna: User
) -> None:
    text = "\n".join(
        [
            HEADER,
            "Piet,piet@example.com,Exact Online,Piet BV",
            '"Klaas,klaas@example.com,Twinfield,Vos BV',  # line 3: the quote is never closed
            "Joop,joop@example.com,Twinfield,Joop BV",
            'Marie,marie@example.com,Twinfield,"Marie "BV"',  # line 5: a quote inside a quoted cell
            "Kees,kees@example.com,Twinfield,Kees BV",
        ]
    )
    result = run(session, anna, text)

    assert sorted(requests_by_email(session)) == ["joop@example.com", "kees@example.com", "piet@example.com"]
    assert [error.line for error in result.errors] == [3, 5]
    assert all(error.message == import_csv.UNCLOSED_QUOTE_MESSAGE for error in result.errors)
    # Every data row is accounted for: saved or reported, none silently dropped.
    assert len(result.saved) + len(result.errors) == 5


def test_an_unclosed_quote_on_the_last_line_is_reported(session: Session, anna: User) -> None:
    text = f'{HEADER}\nPiet,piet@example.com,Exact Online,Piet BV\n"Klaas,klaas@example.com,Twinfield,Vos BV\n'
    result = run(session, anna, text)
    assert len(result.saved) == 1
    assert [(error.line, error.message) for error in result.errors] == [(3, import_csv.UNCLOSED_QUOTE_MESSAGE)]


def test_an_oversized_cell_is_a_row_error_naming_the_client(session: Session, anna: User) -> None:
    long_name = "Bakkerij " * 200
    text = f"{HEADER}\nPiet,piet@example.com,Exact Online,{long_name}\nKlaas,klaas@example.com,Twinfield,Vos BV\n"
    result = run(session, anna, text)
    assert sorted(requests_by_email(session)) == ["klaas@example.com"]
    assert result.errors == [
        RowError(line=2, message=import_csv.CELL_TOO_LONG_MESSAGE, client="Piet <piet@example.com>")
    ]


def test_a_cell_beyond_the_csv_readers_own_limit_is_a_row_error(session: Session, anna: User) -> None:
    huge = "x" * 200_000  # more than csv.field_size_limit()
    text = f'{HEADER}\n"{huge}",piet@example.com,Exact Online,Piet BV\nKlaas,klaas@example.com,Twinfield,Vos BV\n'
    result = run(session, anna, text)
    assert sorted(requests_by_email(session)) == ["klaas@example.com"]
    assert [(error.line, error.message) for error in result.errors] == [(2, import_csv.CELL_TOO_LONG_MESSAGE)]


def test_a_record_over_several_lines_is_named_by_its_lines(session: Session, anna: User) -> None:
    text = f'{HEADER}\n"Piet","piet\n@example.com",Exact Online,"Piet\nBV"\nKlaas,klaas@example.com,Twinfield,Vos BV\n'
    result = run(session, anna, text)
    [error] = result.errors
    assert (error.line, error.lines) == (2, "2\u20134")
    assert [row.line for row in result.saved] == [5]


def test_a_failure_on_our_side_stops_the_import_and_says_what_was_saved(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_add = import_csv.add_checked

    def fail_on_klaas(session: Session, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["clean"].client_email == "klaas@example.com":
            raise RuntimeError("database went away")
        return real_add(session, **kwargs)

    monkeypatch.setattr(import_csv, "add_checked", fail_on_klaas)
    text = "\n".join(
        [
            HEADER,
            "Piet,piet@example.com,Exact Online,Piet BV",
            "Klaas,klaas@example.com,Twinfield,Vos BV",
            "Joop,joop@example.com,Twinfield,Joop BV",
        ]
    )
    result = run(session, anna, text)

    assert [row.line for row in result.saved] == [2]
    assert [error.line for error in result.errors] == [3]
    assert "this row and the 1 after it were not imported" in result.errors[0].message
    assert sorted(requests_by_email(session)) == ["piet@example.com"]


# --- rows committed in groups ------------------------------------------------------------------


class Crash(BaseException):
    """The process dying at this point (nothing after it runs, nothing is caught)."""


def committed_requests(engine: Engine) -> dict[str, tuple[int, int, int]]:
    """What another connection sees committed, per client email: (links, emails to the client,
    "authorisation.created" activity rows) of its request."""
    with Session(engine) as other:
        result = {}
        for request in other.exec(select(AuthorisationRequest).order_by(AuthorisationRequest.id)):
            links = other.exec(select(AuthorisationLink).where(AuthorisationLink.request_id == request.id)).all()
            emails = other.exec(select(OutboxMessage).where(OutboxMessage.to_address == request.client_email)).all()
            created = other.exec(
                select(ActivityLog).where(
                    ActivityLog.subject_id == request.id, ActivityLog.action == "authorisation.created"
                )
            ).all()
            result[request.client_email] = (len(links), len(emails), len(created))
        return result


def client_rows(count: int) -> list[str]:
    return [f"Client {n},client{n}@example.com,Exact Online,Org {n}" for n in range(1, count + 1)]


def test_a_row_refused_while_being_written_keeps_the_other_rows_of_its_group(
    session: Session, engine: Engine, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row 3 clashes with the unique index (a pending request to the same client and organisation
    that the checks did not see, as when another tab sent it at the same moment) and row 4 fails
    after its request was written: both are rolled back alone, the group's other rows are saved."""
    monkeypatch.setattr(import_csv, "GROUP_ROWS", 10)
    run(session, anna, f"{HEADER}\nClient 3,client3@example.com,Exact Online,Org 3\n")
    real_pending, real_issue = sending._pending_request_for, sending.issue_link_and_email

    def unseen_for_client3(session: Session, **kwargs):  # type: ignore[no-untyped-def]
        return None if kwargs["client_email"] == "client3@example.com" else real_pending(session, **kwargs)

    def refuse_client4(session: Session, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["request"].client_email == "client4@example.com":
            raise Conflict("Refused after the request was written.")
        return real_issue(session, **kwargs)

    monkeypatch.setattr(sending, "_pending_request_for", unseen_for_client3)
    monkeypatch.setattr(sending, "issue_link_and_email", refuse_client4)

    result = run(session, anna, "\n".join([HEADER, *client_rows(6)]))

    assert [row.line for row in result.saved] == [2, 3, 6, 7]
    assert [(error.line, error.message) for error in result.errors] == [
        (4, sending.RACE_MESSAGE),
        (5, "Refused after the request was written."),
    ]
    committed = committed_requests(engine)
    assert sorted(committed) == [f"client{n}@example.com" for n in (1, 2, 3, 5, 6)]
    assert committed["client3@example.com"] == (1, 1, 1)  # the earlier request, untouched
    assert set(committed.values()) == {(1, 1, 1)}  # every request with its link, email and activity
    assert count(session, OutboxMessage) == 5


def test_a_clean_file_is_written_without_a_savepoint_per_row_and_a_failing_group_with_them(
    session: Session, engine: Engine, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_csv, "GROUP_ROWS", 3)
    savepoints: list[str] = []

    def note_savepoint(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("SAVEPOINT"):
            savepoints.append(statement)

    event.listen(engine, "before_cursor_execute", note_savepoint)
    try:
        run(session, anna, "\n".join([HEADER, *client_rows(6)]))
        assert savepoints == []  # two clean groups: no SAVEPOINT round trips

        real_issue = sending.issue_link_and_email

        def refuse_client8(session: Session, **kwargs):  # type: ignore[no-untyped-def]
            if kwargs["request"].client_email == "client8@example.com":
                raise Conflict("Refused after the request was written.")
            return real_issue(session, **kwargs)

        monkeypatch.setattr(sending, "issue_link_and_email", refuse_client8)
        rows = [f"Client {n},client{n}@example.com,Exact Online,Org {n}" for n in range(7, 13)]
        result = run(session, anna, "\n".join([HEADER, *rows]))
    finally:
        event.remove(engine, "before_cursor_execute", note_savepoint)

    # Its group (rows 7-9) rolled back and written again row by row, as was the rest of the file.
    assert len(savepoints) == 6
    assert [(error.line, error.message) for error in result.errors] == [(3, "Refused after the request was written.")]
    committed = committed_requests(engine)
    assert sorted(committed) == sorted(f"client{n}@example.com" for n in (1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12))
    assert set(committed.values()) == {(1, 1, 1)}  # every request with its link, email and activity, once


def test_each_email_of_a_group_is_in_its_recipients_language_read_once_for_the_group(
    session: Session, engine: Engine, anna: User
) -> None:
    other_firm = make_environment(session, name="Bakker Holding")
    dutch = make_user(session, other_firm, name="Piet Bakker", email="piet@bakker.example")
    dutch.language = "nl"
    session.add(dutch)
    session.commit()
    language_reads: list[str] = []

    def note_language_read(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT app_user.email, app_user.language") or statement.startswith(
            "SELECT app_user.language"
        ):
            language_reads.append(statement)

    event.listen(engine, "before_cursor_execute", note_language_read)
    try:
        run(session, anna, f"{HEADER}\nPiet,PIET@bakker.example,Exact Online,Bakker BV\n" + "\n".join(client_rows(3)))
    finally:
        event.remove(engine, "before_cursor_execute", note_language_read)

    assert len(language_reads) == 1  # one query for the group's four addresses, not one per email
    subjects = {message.to_address: message.subject for message in outbox(session)}
    assert subjects["piet@bakker.example"].endswith("vraagt toegang tot Bakker BV op eConnect")
    assert subjects["client1@example.com"].endswith("asks for access to Org 1 on eConnect")


def test_a_crash_leaves_whole_groups_each_request_with_its_email_and_activity(
    session: Session, engine: Engine, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_csv, "GROUP_ROWS", 3)
    real_issue = sending.issue_link_and_email

    def die_while_writing_client5(session: Session, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["request"].client_email == "client5@example.com":  # its request row is written
            raise Crash
        return real_issue(session, **kwargs)

    monkeypatch.setattr(sending, "issue_link_and_email", die_while_writing_client5)

    with pytest.raises(Crash):
        run(session, anna, "\n".join([HEADER, *client_rows(8)]))

    committed = committed_requests(engine)
    assert sorted(committed) == ["client1@example.com", "client2@example.com", "client3@example.com"]
    assert set(committed.values()) == {(1, 1, 1)}
    with Session(engine) as other:
        assert len(other.exec(select(OutboxMessage)).all()) == 3


def test_a_crash_between_rows_loses_only_the_group_in_progress(
    session: Session, engine: Engine, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_csv, "GROUP_ROWS", 3)

    def die_after_row_7(done: int, total: int) -> None:
        if done == 7:
            raise Crash

    with pytest.raises(Crash):
        authorisations.import_requests_csv(
            session, actor=anna, csv_text="\n".join([HEADER, *client_rows(9)]), on_progress=die_after_row_7
        )

    committed = committed_requests(engine)
    assert sorted(committed) == [f"client{n}@example.com" for n in range(1, 7)]
    assert set(committed.values()) == {(1, 1, 1)}


def test_a_group_whose_commit_fails_is_reported_from_its_first_row(
    session: Session, engine: Engine, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_csv, "GROUP_ROWS", 3)
    real_commit = session.commit
    commits: list[int] = []

    def commit_fails_the_second_time() -> None:
        commits.append(1)
        if len(commits) == 2:
            raise RuntimeError("disk I/O error")
        real_commit()

    monkeypatch.setattr(session, "commit", commit_fails_the_second_time)
    rows = client_rows(8)
    rows[4] = "Client 5,not-an-email,Exact Online,Org 5"  # an error row in the lost group

    result = run(session, anna, "\n".join([HEADER, *rows]))

    assert [row.line for row in result.saved] == [2, 3, 4]
    assert [error.line for error in result.errors] == [5]
    assert "this row and the 4 after it were not imported" in result.errors[0].message
    assert sorted(committed_requests(engine)) == [f"client{n}@example.com" for n in (1, 2, 3)]


def test_a_thousand_rows_in_one_file_are_all_saved(session: Session, engine: Engine, anna: User) -> None:
    rows = [f"Client {n},client{n}@example.com,Twinfield,Org {n}" for n in range(1, 1001)]
    calls: list[int] = []

    result = authorisations.import_requests_csv(
        session, actor=anna, csv_text="\n".join([HEADER, *rows]), on_progress=lambda done, _total: calls.append(done)
    )

    assert (len(result.saved), result.errors) == (1000, [])
    assert calls == list(range(1, 1001))
    with Session(engine) as other:
        assert len(other.exec(select(AuthorisationRequest)).all()) == 1000
        assert len(other.exec(select(OutboxMessage)).all()) == 1000


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("Naam;E-mail\nCafé Müller;a@example.com\n".encode(), import_csv.UTF8),
        (codecs.BOM_UTF8 + "Naam;E-mail\nCafé Müller;a@example.com\n".encode(), import_csv.UTF8),
        ("Naam;E-mail\nCafé Müller;a@example.com\n".encode("cp1252"), import_csv.WINDOWS_1252),
        ("Naam;E-mail\nCafé Müller;a@example.com\n".encode("utf-16"), import_csv.UTF16),  # with its BOM
    ],
)
def test_utf8_with_or_without_bom_utf16_and_windows_1252_are_read(content: bytes, encoding: str) -> None:
    decoded = import_csv.decode_csv_file(content, filename="klanten.csv")
    assert decoded == import_csv.CsvText("Naam;E-mail\nCafé Müller;a@example.com\n", encoding)


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"client name,email\n", "clients.xlsx", import_csv.NOT_A_CSV_FILE_MESSAGE),
        (b"client name,email\n", "clients", import_csv.NOT_A_CSV_FILE_MESSAGE),
        (b"PK\x03\x04\x00\x00binary", "clients.csv", import_csv.NOT_TEXT_MESSAGE),
        (b"\x81\x8d\x8f\x90\x9d", "clients.txt", import_csv.UNREADABLE_TEXT_MESSAGE),
    ],
)
def test_any_other_file_gets_a_clear_message(content: bytes, filename: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        import_csv.decode_csv_file(content, filename=filename)
    assert caught.value.errors == {"file": message}


def test_a_txt_file_with_csv_text_is_read(session: Session, anna: User) -> None:
    decoded = import_csv.decode_csv_file(
        f"{HEADER}\nPiet,piet@example.com,Exact Online,Piet BV\n".encode(), filename="Klanten.TXT"
    )
    assert len(run(session, anna, decoded.text).saved) == 1


# --- the preview before sending, and the template -------------------------------------------------


def preview(session: Session, actor: User, text: str) -> import_csv.ImportPreview:
    return authorisations.preview_import(session, actor=actor, csv_text=text)


def test_the_preview_lists_the_ready_rows_and_each_error_row_and_writes_nothing(
    session: Session, anna: User
) -> None:
    text = "\n".join(
        [
            HEADER,
            "Piet Bakker,piet@example.com,Exact Online,Bakkerij Piet BV",  # line 2: ready
            ",not-an-email,Quickbooks,",  # line 3: four problems
            "Klaas Vos,klaas@vos.example,twinfield,Vos & Zn",  # line 4: ready
            "Piet again,PIET@example.com,Twinfield,bakkerij  piet bv",  # line 5: duplicate of line 2
            '"Marie,marie@example.com,Twinfield,Marie BV',  # line 6: a quote never closed
        ]
    )
    result = preview(session, anna, text)

    assert result.ready == [
        import_csv.ReadyRow(line=2, client="Piet Bakker <piet@example.com>"),
        import_csv.ReadyRow(line=4, client="Klaas Vos <klaas@vos.example>"),
    ]
    assert [(error.line, error.client) for error in result.errors] == [
        (3, "not-an-email"),
        (5, "Piet again <PIET@example.com>"),
        (6, ""),
    ]
    assert result.errors[0].message.startswith("Enter the client's name. Enter a valid email address")
    assert result.errors[1].message == "Duplicate of line 2."
    assert result.errors[2].message == import_csv.UNCLOSED_QUOTE_MESSAGE
    assert count(session, AuthorisationRequest) == 0
    assert count(session, AuthorisationLink) == 0
    assert count(session, OutboxMessage) == 0
    assert activities(session, action="authorisation.created") == []


def test_sending_finds_what_the_preview_found(session: Session, anna: User) -> None:
    """One set of checks: the import refuses exactly the rows the preview listed, for the same reasons."""
    text = "\n".join(
        [
            HEADER,
            "Piet,piet@example.com,Exact Online,Piet BV",
            "Anna,anna@devries.example,Exact Online,Self BV",  # own address
            "Klaas,klaas@example.com,,Vos BV",
            "Piet,piet@example.com,Twinfield,piet bv",  # duplicate
            "Joop,joop@example.com,Twinfield,Joop BV",
        ]
    )
    previewed = preview(session, anna, text)
    sent = run(session, anna, text)

    assert sent.errors == previewed.errors
    assert [(row.line, row.client) for row in sent.saved] == [(row.line, row.client) for row in previewed.ready]


def test_sending_checks_every_row_again_whatever_the_preview_said(session: Session, anna: User) -> None:
    """A row that was ready in the preview but now replaces a request sent a moment ago is refused."""
    text = f"{HEADER}\nPiet,piet@example.com,Exact Online,Piet BV\n"
    assert len(preview(session, anna, text).ready) == 1
    authorisations.create_request(
        session,
        actor=anna,
        client_name="Piet",
        client_email="piet@example.com",
        software_package_id="Exact Online",
        organisation_name="Piet BV",
    )

    result = run(session, anna, text)

    assert result.saved == []
    [error] = result.errors
    assert error.line == 2 and error.client == "Piet <piet@example.com>"
    assert count(session, AuthorisationRequest) == 1


def test_the_preview_refuses_like_the_import(session: Session, firm: Environment, anna: User) -> None:
    plain_user = make_user(session, firm, role=Role.USER.value)
    with pytest.raises(PermissionDenied):
        preview(session, plain_user, f"{HEADER}\nPiet,piet@example.com,Exact Online,Piet BV\n")
    with pytest.raises(ValidationFailed) as caught:
        preview(session, anna, "name,email\nPiet,piet@example.com\n")
    assert caught.value.errors["file"].endswith("Missing: software package, organisation.")


def test_the_preview_reports_the_rows_beyond_the_limit(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(import_csv, "MAX_IMPORT_ROWS", 2)
    rows = [f"Client {n},client{n}@example.com,Exact Online,Org {n}" for n in range(1, 6)]
    result = preview(session, anna, "\n".join([HEADER, *rows]))
    assert [row.line for row in result.ready] == [2, 3]
    assert [error.line for error in result.errors] == [4]
    assert result.errors[0].message.startswith("A file can hold at most 2 requests")


def test_a_thousand_rows_are_all_checked_in_the_preview(
    session: Session, anna: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How long it takes is measured in benchmarks/csv_preview.py (target: p95 under 1 s)."""
    monkeypatch.setattr(import_csv, "MAX_IMPORT_ROWS", 1000)  # every row checked, none cut off
    rows = [
        f"Client {n},client{n}@example.com,{'Twinfield' if n % 10 else 'Quickbooks'},Org {n}" for n in range(1000)
    ]
    text = "\n".join([HEADER, *rows])

    result = preview(session, anna, text)

    assert (len(result.ready), len(result.errors)) == (900, 100)


def test_the_template_has_exactly_the_columns_the_import_reads_and_its_example_row_is_ready(
    session: Session, anna: User
) -> None:
    template = authorisations.csv_template()
    header, example, *rest = template.splitlines()

    assert header.split(",") == ["Client name", "Email", "Software package", "Organisation"]
    assert [column.lower() for column in header.split(",")] == list(authorisations.CSV_COLUMNS)
    assert rest == []
    assert authorisations.TEMPLATE_FILENAME == "econnect-authorisation-requests.csv"
    result = preview(session, anna, template)  # the example row passes every check
    assert result.ready == [import_csv.ReadyRow(line=2, client="Jan de Boer <jan@example.com>")]
    assert result.errors == []
    assert example == "Jan de Boer,jan@example.com,Twinfield,De Boer Installatie BV"
