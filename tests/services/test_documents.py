"""An organisation's documents (services/documents.py): who may upload and list them, in the app
and with connection keys; what is accepted (PDF, UBL 2.1 XML, at most 10 MB, judged by content);
the stored file and its checksum; a refusal or a failed transaction writes nothing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest_factories import activities, count, make_admin, make_environment, make_organisation, make_user
from partnership_factories import (
    Pair,
    connect_manager_row,
    end_partnership_row,
    fresh,
    make_membership,
    make_pair,
    make_relationship_manager,
    snapshot,
)
from sqlmodel import Session, select

from econnect_app import live
from econnect_app.models import (
    Document,
    DocumentFormat,
    Membership,
    MembershipRole,
    MembershipStatus,
    Organisation,
    Role,
    User,
    UserStatus,
)
from econnect_app.services import activity, document_store, documents, keys
from econnect_app.services.documents import DocumentTooLarge, UnsupportedDocumentType
from econnect_app.services.errors import NotFound, PermissionDenied, ValidationFailed

UBL = "urn:oasis:names:specification:ubl:schema:xsd"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
UBL_INVOICE = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<Invoice xmlns="{UBL}:Invoice-2" '
    f'xmlns:cbc="{UBL}:CommonBasicComponents-2"><cbc:UBLVersionID>2.1</cbc:UBLVersionID>'
    "<cbc:ID>INV-2025-001</cbc:ID></Invoice>\n"
).encode()
NOT_UBL_XML = b'<?xml version="1.0"?><invoice><number>1</number></invoice>'
ENTITY_BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    f'<Invoice xmlns="{UBL}:Invoice-2"><Note>&lol3;</Note></Invoice>'
).encode()
TEN_MB = 10 * 1024 * 1024


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The document store of this test: a folder of its own."""
    root = tmp_path / "documents"
    monkeypatch.setattr(document_store, "documents_root", lambda: root)
    return root


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def upload(
    session: Session,
    actor: User,
    organisation: Organisation,
    *,
    kind: object = "invoice",
    filename: str = "invoice.pdf",
    content: bytes | None = PDF,
) -> Document:
    return documents.upload_document(
        session, actor=actor, organisation_id=organisation.id, kind=kind, filename=filename, content=content
    )


def assert_nothing_written(
    session: Session, before: dict[str, list[tuple[object, ...]]], store: Path
) -> None:
    assert snapshot(session) == before
    assert stored_files(store) == []


# --- who may upload in the app --------------------------------------------------------------------


def test_the_owner_uploads_a_pdf_stored_byte_for_byte_with_its_checksum(
    session: Session, store: Path, published: list[int]
) -> None:
    pair = make_pair(session, partnered=False)
    published.clear()

    document = upload(session, pair.client_admin, pair.client_organisation, filename="Factuur 2025-001.pdf")

    row = fresh(session, Document, document.id)
    assert (row.kind, row.format, row.filename, row.content_type) == (
        "invoice", "pdf", "Factuur 2025-001.pdf", "application/pdf"
    )  # fmt: skip
    assert row.size_bytes == len(PDF)
    assert row.sha256 == hashlib.sha256(PDF).hexdigest()
    assert row.uploaded_by_user_id == pair.client_admin.id and row.uploaded_by_key_set_id is None
    [file] = stored_files(store)
    assert file.read_bytes() == PDF
    # Named by its key, not by the name the user gave it.
    assert file.name == row.storage_key and "Factuur" not in str(file)
    assert documents.read_document_bytes(row) == PDF
    [entry] = activities(session, action="document.uploaded")
    assert entry.environment_id == pair.client.id and entry.actor_user_id == pair.client_admin.id
    assert entry.summary == (
        f"Kees Koren uploaded invoice Factuur 2025-001.pdf (PDF, {len(PDF)} bytes) to Bakkerij De Korenbloem."
    )
    assert (entry.subject_type, entry.subject_id) == (
        activity.ORGANISATION_SUBJECT,
        pair.client_organisation.id,
    )
    assert published == [pair.client.id]


def test_a_ubl_invoice_and_a_ubl_statement_are_accepted(session: Session) -> None:
    pair = make_pair(session, partnered=False)

    invoice = upload(
        session, pair.client_admin, pair.client_organisation, filename="inv.xml", content=UBL_INVOICE
    )
    statement = upload(
        session,
        pair.client_admin,
        pair.client_organisation,
        kind="Statement",
        filename="bank",
        content=UBL_INVOICE,
    )

    assert (invoice.kind, invoice.format, invoice.content_type, invoice.filename) == (
        "invoice", "ubl", "application/xml", "inv.xml"
    )  # fmt: skip
    assert (statement.kind, statement.filename) == ("statement", "bank.xml")


@pytest.mark.parametrize("role", [Role.USER.value, Role.ADVANCED_USER.value])
def test_any_user_of_the_owning_environment_may_upload(session: Session, role: str) -> None:
    pair = make_pair(session, partnered=False)
    colleague = make_user(session, pair.client, role=role)

    assert upload(session, colleague, pair.client_organisation).uploaded_by_user_id == colleague.id


@pytest.mark.parametrize("membership_role", [MembershipRole.MEMBER.value, MembershipRole.ADMINISTRATOR.value])
def test_a_partner_member_uploads_and_both_sides_log_it(
    session: Session, published: list[int], membership_role: str
) -> None:
    pair = make_pair(session, accountant_member=False)
    make_membership(session, pair.accountant, pair.client_organisation, role=membership_role)
    published.clear()

    document = upload(session, pair.accountant, pair.client_organisation, kind="statement")

    assert document.kind == "statement"
    entries = {
        entry.environment_id: entry.summary for entry in activities(session, action="document.uploaded")
    }
    assert entries == {
        pair.client.id: (
            f"Ada Lovelace (Lovelace Accounting) uploaded statement invoice.pdf (PDF, {len(PDF)} bytes) to "
            "Bakkerij De Korenbloem."
        ),
        pair.firm.id: (
            f"Ada Lovelace (Lovelace Accounting) uploaded statement invoice.pdf (PDF, {len(PDF)} bytes) to "
            "Bakkerij De Korenbloem (Korenbloem Holding)."
        ),
    }
    assert set(published) == {pair.client.id, pair.firm.id}


def test_a_connected_relationship_manager_of_the_partnership_may_upload(session: Session) -> None:
    pair = make_pair(session)
    manager = make_relationship_manager(session, pair.firm)
    connect_manager_row(session, pair.partnership, manager)

    assert upload(session, manager, pair.client_organisation).uploaded_by_user_id == manager.id


def _refused(
    session: Session,
    store: Path,
    pair: Pair,
    actor: User,
    error: type[Exception],
    organisation: Organisation | None = None,
) -> None:
    before = snapshot(session)
    with pytest.raises(error):
        upload(session, actor, organisation or pair.client_organisation)
    assert_nothing_written(session, before, store)


def test_a_partner_user_who_is_not_a_member_is_refused(session: Session, store: Path) -> None:
    pair = make_pair(session)
    _refused(session, store, pair, pair.firm_admin, NotFound)


def test_a_plain_user_of_the_partner_is_refused_even_as_a_member(session: Session, store: Path) -> None:
    pair = make_pair(session)
    plain = make_user(session, pair.firm, role=Role.USER.value)
    make_membership(session, plain, pair.client_organisation)
    _refused(session, store, pair, plain, NotFound)


def test_an_ended_partnership_refuses_the_upload_and_keeps_the_documents(
    session: Session, store: Path
) -> None:
    pair = make_pair(session)
    earlier = upload(session, pair.accountant, pair.client_organisation)
    files = stored_files(store)
    end_partnership_row(session, pair.partnership)

    before = snapshot(session)
    with pytest.raises(NotFound, match="does not exist or you have no access"):
        upload(session, pair.accountant, pair.client_organisation)
    with pytest.raises(NotFound):
        documents.documents_view(session, actor=pair.accountant, organisation_id=pair.client_organisation.id)
    assert snapshot(session) == before
    assert stored_files(store) == files  # nothing deleted
    view = documents.documents_view(
        session, actor=pair.client_admin, organisation_id=pair.client_organisation.id
    )
    assert [row.id for row in view.rows] == [earlier.id]
    assert documents.read_document_bytes(fresh(session, Document, earlier.id)) == PDF


def test_an_ended_membership_refuses_the_upload(session: Session, store: Path) -> None:
    pair = make_pair(session)
    membership = pair.accountant_membership
    assert membership is not None
    membership.status = MembershipStatus.ENDED.value
    session.add(membership)
    session.commit()
    _refused(session, store, pair, pair.accountant, NotFound)


def test_another_environment_is_refused(session: Session, store: Path) -> None:
    pair = make_pair(session)
    stranger = make_admin(session, make_environment(session, name="Stranger BV"))
    _refused(session, store, pair, stranger, NotFound)
    with pytest.raises(NotFound):
        documents.documents_view(session, actor=stranger, organisation_id=pair.client_organisation.id)


def test_a_blocked_user_is_refused(session: Session, store: Path) -> None:
    pair = make_pair(session, partnered=False)
    pair.client_admin.status = UserStatus.BLOCKED.value
    session.add(pair.client_admin)
    session.commit()
    _refused(session, store, pair, pair.client_admin, PermissionDenied)


def test_an_organisation_that_is_not_activated_takes_no_documents(session: Session, store: Path) -> None:
    pair = make_pair(session, partnered=False)
    draft = make_organisation(session, pair.client, name="Not yet BV")
    _refused(session, store, pair, pair.client_admin, PermissionDenied, organisation=draft)
    with pytest.raises(PermissionDenied, match="Activate this organisation"):
        documents.uploadable_organisation(session, actor=pair.client_admin, organisation_id=draft.id)


@pytest.mark.parametrize("organisation_id", [0, -1, 2**40, "abc", "", None])
def test_an_organisation_id_that_names_nothing_is_not_found(
    session: Session, organisation_id: object
) -> None:
    pair = make_pair(session, partnered=False)
    with pytest.raises(NotFound):
        documents.upload_document(
            session, actor=pair.client_admin, organisation_id=organisation_id, kind="invoice",  # type: ignore[arg-type]
            filename="x.pdf", content=PDF,
        )  # fmt: skip


# --- what is accepted -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content", "error", "message"),
    [
        (
            "invoice.pdf",
            b"This is not a PDF, whatever its name says.",
            UnsupportedDocumentType,
            documents.WRONG_TYPE,
        ),
        ("invoice.xml", NOT_UBL_XML, UnsupportedDocumentType, documents.WRONG_TYPE),
        ("invoice.xml", ENTITY_BOMB, UnsupportedDocumentType, documents.WRONG_TYPE),
        ("invoice.pdf", b"", ValidationFailed, documents.EMPTY_FILE),
        ("invoice.pdf", None, ValidationFailed, documents.CHOOSE_FILE),
        ("invoice.pdf", b"%PDF-" + b"0" * (TEN_MB - 4), DocumentTooLarge, "larger than 10 MB"),
    ],
    ids=["text-named-pdf", "xml-not-ubl", "entity-bomb", "empty", "no-file", "10-MB-plus-1-byte"],
)
def test_a_file_that_is_not_accepted_gets_its_message_and_writes_nothing(
    session: Session,
    store: Path,
    filename: str,
    content: bytes | None,
    error: type[ValidationFailed],
    message: str,
) -> None:
    pair = make_pair(session, partnered=False)
    before = snapshot(session)

    with pytest.raises(error) as refusal:
        upload(session, pair.client_admin, pair.client_organisation, filename=filename, content=content)

    assert message in refusal.value.errors["file"]
    assert isinstance(refusal.value, ValidationFailed)  # the page shows it next to the file
    assert_nothing_written(session, before, store)


def test_exactly_10_mb_is_accepted(session: Session, store: Path) -> None:
    pair = make_pair(session, partnered=False)
    content = b"%PDF-" + b"0" * (TEN_MB - 5)

    document = upload(session, pair.client_admin, pair.client_organisation, content=content)

    assert document.size_bytes == TEN_MB
    assert stored_files(store)[0].read_bytes() == content


@pytest.mark.parametrize("kind", ["", None, "receipt", 3, ["invoice"]])
def test_a_missing_or_unknown_kind_is_refused(session: Session, store: Path, kind: object) -> None:
    pair = make_pair(session, partnered=False)
    before = snapshot(session)
    with pytest.raises(ValidationFailed) as refusal:
        upload(session, pair.client_admin, pair.client_organisation, kind=kind)
    assert refusal.value.errors == {"kind": documents.CHOOSE_KIND}
    assert_nothing_written(session, before, store)


def test_every_problem_is_reported_at_once(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    with pytest.raises(UnsupportedDocumentType) as refusal:
        upload(session, pair.client_admin, pair.client_organisation, kind="", content=b"plain text")
    assert refusal.value.errors == {"kind": documents.CHOOSE_KIND, "file": documents.WRONG_TYPE}


def test_a_failed_transaction_removes_the_stored_file(
    session: Session, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pair = make_pair(session, partnered=False)
    before = snapshot(session)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(activity, "record_each", broken)
    with pytest.raises(RuntimeError, match="went away"):
        upload(session, pair.client_admin, pair.client_organisation)

    assert_nothing_written(session, before, store)


# --- listing --------------------------------------------------------------------------------------


def test_the_list_is_newest_first_and_names_who_uploaded(session: Session) -> None:
    pair = make_pair(session)
    key_set, _secret = keys.create_key_set(session, actor=pair.firm_admin, name="Twinfield sync")
    first = upload(session, pair.client_admin, pair.client_organisation, filename="first.pdf")
    second = upload(
        session,
        pair.accountant,
        pair.client_organisation,
        kind="statement",
        filename="second.xml",
        content=UBL_INVOICE,
    )
    third = documents.upload_document_with_keys(
        session, key_set_id=key_set.id, identifier=pair.client_organisation.identifier, kind="invoice",
        filename="third.pdf", content=PDF,
    )  # fmt: skip

    view = documents.documents_view(
        session, actor=pair.client_admin, organisation_id=pair.client_organisation.id
    )

    assert (view.organisation_name, view.owner_environment_name, view.is_own, view.activated) == (
        "Bakkerij De Korenbloem", "Korenbloem Holding", True, True
    )  # fmt: skip
    assert view.total == 3
    assert [(row.id, row.filename, row.kind, row.format, row.uploaded_by) for row in view.rows] == [
        (
            third.id,
            "third.pdf",
            "invoice",
            "pdf",
            "Accounting software of Lovelace Accounting (Twinfield sync)",
        ),
        (second.id, "second.xml", "statement", "ubl", "Ada Lovelace (Lovelace Accounting)"),
        (first.id, "first.pdf", "invoice", "pdf", "Kees Koren"),
    ]
    assert view.rows[2].sha256 == hashlib.sha256(PDF).hexdigest() and view.rows[2].size_bytes == len(PDF)
    accountant_view = documents.documents_view(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id
    )
    assert accountant_view.is_own is False
    assert [row.id for row in accountant_view.rows] == [third.id, second.id, first.id]


def test_the_page_shows_a_limited_number_and_the_total(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    uploaded = [
        upload(session, pair.client_admin, pair.client_organisation, filename=f"{n}.pdf") for n in range(5)
    ]

    view = documents.documents_view(
        session, actor=pair.client_admin, organisation_id=pair.client_organisation.id, limit=2
    )

    assert view.total == 5
    assert [row.id for row in view.rows] == [uploaded[4].id, uploaded[3].id]


def test_an_empty_organisation_lists_nothing(session: Session) -> None:
    pair = make_pair(session, partnered=False)
    view = documents.documents_view(
        session, actor=pair.client_admin, organisation_id=pair.client_organisation.id
    )
    assert (view.rows, view.total) == ([], 0)


# --- with connection keys -------------------------------------------------------------------------


def test_keys_of_the_accountant_upload_to_a_client_and_list_in_pages(session: Session, store: Path) -> None:
    pair = make_pair(session)
    key_set, _secret = keys.create_key_set(session, actor=pair.firm_admin)
    identifier = pair.client_organisation.identifier

    uploaded = [
        documents.upload_document_with_keys(
            session,
            key_set_id=key_set.id,
            identifier=identifier,
            kind="invoice",
            filename=f"{n}.pdf",
            content=PDF,
        )
        for n in range(3)
    ]

    assert all(
        document.uploaded_by_key_set_id == key_set.id and document.uploaded_by_user_id is None
        for document in uploaded
    )
    [*_, last] = activities(session, action="document.uploaded")
    assert last.actor_user_id is None
    assert (
        'Accounting software of Lovelace Accounting (key set "Default") uploaded invoice 2.pdf'
        in last.summary
    )
    first_page = documents.documents_page_for_keys(
        session, key_set_id=key_set.id, identifier=identifier, per_page=2
    )
    second_page = documents.documents_page_for_keys(
        session, key_set_id=key_set.id, identifier=identifier, page=2, per_page=2
    )
    assert ([row.filename for row in first_page.rows], first_page.total, first_page.has_more) == (
        ["2.pdf", "1.pdf"],
        3,
        True,
    )
    assert ([row.filename for row in second_page.rows], second_page.has_more) == (["0.pdf"], False)
    assert len(stored_files(store)) == 3


def test_keys_without_access_are_refused_and_write_nothing(session: Session, store: Path) -> None:
    pair = make_pair(session)
    stranger_admin = make_admin(session, make_environment(session, name="Stranger BV"))
    stranger_keys, _ = keys.create_key_set(session, actor=stranger_admin)
    firm_keys, _ = keys.create_key_set(session, actor=pair.firm_admin)
    identifier = pair.client_organisation.identifier

    def upload_with(key_set_id: int, identifier: str = identifier) -> Document:
        return documents.upload_document_with_keys(
            session,
            key_set_id=key_set_id,
            identifier=identifier,
            kind="invoice",
            filename="x.pdf",
            content=PDF,
        )

    before = snapshot(session)
    with pytest.raises(PermissionDenied):
        upload_with(stranger_keys.id)
    with pytest.raises(NotFound):
        upload_with(firm_keys.id, "no-such-identifier")
    with pytest.raises(PermissionDenied):
        documents.documents_page_for_keys(session, key_set_id=stranger_keys.id, identifier=identifier)
    assert_nothing_written(session, before, store)

    end_partnership_row(session, pair.partnership)
    before = snapshot(session)
    with pytest.raises(PermissionDenied):
        upload_with(firm_keys.id)
    assert_nothing_written(session, before, store)


def test_a_revoked_key_set_is_refused(session: Session, store: Path) -> None:
    pair = make_pair(session, partnered=False)
    key_set, _ = keys.create_key_set(session, actor=pair.client_admin)
    keys.revoke_key_set(session, actor=pair.client_admin, key_set_id=key_set.id)
    with pytest.raises(PermissionDenied):
        documents.upload_document_with_keys(
            session, key_set_id=key_set.id, identifier=pair.client_organisation.identifier, kind="invoice",
            filename="x.pdf", content=PDF,
        )  # fmt: skip
    assert stored_files(store) == []


def test_documents_survive_the_end_of_access(session: Session) -> None:
    """Ending a partnership or a membership deletes no document."""
    pair = make_pair(session)
    upload(session, pair.accountant, pair.client_organisation)
    membership = session.exec(select(Membership).where(Membership.user_id == pair.accountant.id)).one()
    membership.status = MembershipStatus.ENDED.value
    session.add(membership)
    session.commit()
    end_partnership_row(session, pair.partnership)

    assert count(session, Document) == 1
    assert fresh(session, Document, 1).format == DocumentFormat.PDF.value
