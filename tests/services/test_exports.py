"""A client organisation's accounting package connection (seed 004): sharing, the configuration,
the online connections for export invoices and statements, queueing on upload, the backfill, the
delivery log and Retry; who may do what, and nothing changed on a refusal."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from conftest_factories import activities, make_environment, make_user
from partnership_factories import (
    Pair,
    end_partnership_row,
    fresh,
    make_membership,
    make_pair,
    make_partnership,
    snapshot,
)
from sqlmodel import Session, col, select

from econnect_app import live
from econnect_app.models import (
    AccountingConfiguration,
    ConfigurationTarget,
    DeliveryStatus,
    Document,
    DocumentDelivery,
    DocumentKind,
    Environment,
    ExportSetting,
    Organisation,
    Plan,
    Role,
    utcnow,
)
from econnect_app.services import document_store, exports
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

INVOICE = DocumentKind.INVOICE.value
STATEMENT = DocumentKind.STATEMENT.value
_numbers = itertools.count(1)


# --- rows -----------------------------------------------------------------------------------------


def make_configuration(
    session: Session,
    environment: Environment,
    *,
    name: str = "Lovelace SFTP",
    exports_invoices: bool = True,
    exports_statements: bool = False,
    archived: bool = False,
) -> AccountingConfiguration:
    """A connected SFTP configuration (as services/configurations.py leaves it after Connect)."""
    configuration = AccountingConfiguration(
        environment_id=environment.id,
        name=name,
        target=ConfigurationTarget.SFTP.value,
        sftp_host="127.0.0.1",
        sftp_port=2222,
        sftp_username="accountant",
        sftp_host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2lsKFd7hGU5wz4v2ZpS4xqJ6c1gBw8r0n0kJ2m1x9M",
        credentials_encrypted="sealed-password",
        exports_invoices=exports_invoices,
        exports_statements=exports_statements,
        terms_accepted_at=utcnow(),
        archived_at=utcnow() if archived else None,
    )
    session.add(configuration)
    session.commit()
    return configuration


def make_document(
    session: Session, organisation: Organisation, *, kind: str = INVOICE, content: bytes | None = None
) -> Document:
    """A stored PDF document of ``organisation`` (as services/documents.py writes one)."""
    number = next(_numbers)
    content = content or b"%PDF-1.4\n% document " + str(number).encode() + b"\n%%EOF\n"
    stored = document_store.store_bytes(content)
    document = Document(
        organisation_id=organisation.id,
        kind=kind,
        format="pdf",
        filename=f"{kind}-{number}.pdf",
        content_type="application/pdf",
        size_bytes=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
    )
    session.add(document)
    session.commit()
    return document


def upload(session: Session, organisation: Organisation, *, kind: str = INVOICE) -> tuple[Document, int]:
    """A new document and its deliveries queued in the same transaction, as the upload does."""
    number = next(_numbers)
    stored = document_store.store_bytes(b"%PDF-1.4\n% upload " + str(number).encode() + b"\n")
    document = Document(
        organisation_id=organisation.id,
        kind=kind,
        format="pdf",
        filename=f"upload-{number}.pdf",
        content_type="application/pdf",
        size_bytes=stored.size,
        sha256=stored.sha256,
        storage_key=stored.storage_key,
    )
    session.add(document)
    session.flush()
    queued = exports.queue_deliveries_for(session, document)
    session.commit()
    return document, queued


def deliveries(session: Session) -> list[DocumentDelivery]:
    statement = select(DocumentDelivery).order_by(col(DocumentDelivery.id))
    return list(session.exec(statement.execution_options(populate_existing=True)))


def setting_of(session: Session, pair: Pair) -> ExportSetting | None:
    statement = select(ExportSetting).where(
        ExportSetting.organisation_id == pair.client_organisation.id,
        ExportSetting.environment_id == pair.firm.id,
    )
    return session.exec(statement.execution_options(populate_existing=True)).first()


@pytest.fixture()
def published(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(live, "publish_environment_change", calls.append)
    return calls


@pytest.fixture()
def pair(session: Session) -> Pair:
    return make_pair(session)


@pytest.fixture()
def configuration(session: Session, pair: Pair) -> AccountingConfiguration:
    return make_configuration(session, pair.firm, exports_statements=True)


def connect(session: Session, pair: Pair, configuration: AccountingConfiguration, *kinds: str) -> None:
    """Share documents, choose ``configuration`` and activate ``kinds``, as the accountant."""
    organisation_id = pair.client_organisation.id
    exports.set_share_documents(session, actor=pair.accountant, organisation_id=organisation_id, share=True)
    exports.choose_configuration(
        session,
        actor=pair.accountant,
        organisation_id=organisation_id,
        configuration_id=str(configuration.id),
    )
    for kind in kinds:
        exports.activate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=kind)


# --- the section's changes ------------------------------------------------------------------------


def test_the_accountant_shares_chooses_and_activates_with_activity_on_both_sides(
    session: Session, pair: Pair, configuration: AccountingConfiguration, published: list[int]
) -> None:
    connect(session, pair, configuration, INVOICE)

    setting = setting_of(session, pair)
    assert setting is not None
    assert setting.share_documents is True
    assert setting.configuration_id == configuration.id
    assert setting.invoices_active_since is not None
    assert setting.statements_active_since is None
    for action in ("export.sharing_on", "export.configuration_chosen", "export.invoice_activated"):
        rows = activities(session, action=action)
        assert sorted(row.environment_id for row in rows) == sorted([pair.firm.id, pair.client.id]), action
        assert {row.subject_id for row in rows} == {pair.client_organisation.id}
    activated = {
        row.environment_id: row.summary for row in activities(session, action="export.invoice_activated")
    }
    assert activated[pair.firm.id] == (
        "Ada Lovelace activated the online connection for export invoices of Bakkerij De Korenbloem "
        "(configuration \u201cLovelace SFTP\u201d)."
    )
    assert activated[pair.client.id].startswith("Ada Lovelace of Lovelace Accounting activated")
    assert {pair.firm.id, pair.client.id} <= set(published)

    view = exports.accounting_connection(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id
    )
    assert view.is_accountant and view.can_change and view.share_documents
    assert (view.configuration_id, view.configuration_name) == (configuration.id, "Lovelace SFTP")
    assert view.invoices.active_since is not None and view.statements.active_since is None
    assert [choice.name for choice in view.configurations] == ["Lovelace SFTP"]


def test_activating_statements_needs_a_configuration_that_exports_them(session: Session, pair: Pair) -> None:
    invoices_only = make_configuration(session, pair.firm, name="Invoices only")
    connect(session, pair, invoices_only)
    before = snapshot(session)

    with pytest.raises(Conflict) as refused:
        exports.activate_export(
            session, actor=pair.accountant, organisation_id=pair.client_organisation.id, kind=STATEMENT
        )

    assert refused.value.message == (
        "The configuration \u201cInvoices only\u201d does not export statements. Open it on Configurations, "
        "choose Modify and select Bank statements export for accounting."
    )
    assert snapshot(session) == before


def test_activation_needs_sharing_first_then_a_configuration(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    before = snapshot(session)
    with pytest.raises(Conflict, match="Turn on Share documents with accountant first."):
        exports.activate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE)
    assert snapshot(session) == before

    exports.set_share_documents(session, actor=pair.accountant, organisation_id=organisation_id, share=True)
    before = snapshot(session)
    with pytest.raises(Conflict, match="Choose a configuration first."):
        exports.activate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE)
    assert snapshot(session) == before


def test_activating_twice_and_deactivating_what_is_not_active_are_refused(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    connect(session, pair, configuration, INVOICE)
    before = snapshot(session)

    with pytest.raises(Conflict, match="for export invoices is active already"):
        exports.activate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE)
    with pytest.raises(Conflict, match="for statements is not active"):
        exports.deactivate_export(
            session, actor=pair.accountant, organisation_id=organisation_id, kind=STATEMENT
        )
    with pytest.raises(Conflict, match="Choose invoices or statements"):
        exports.activate_export(
            session, actor=pair.accountant, organisation_id=organisation_id, kind="receipt"
        )
    assert snapshot(session) == before


@pytest.mark.parametrize("choice", ["other", "unknown", "garbage", "huge"])
def test_an_unknown_or_another_environments_configuration_is_refused_next_to_the_field(
    session: Session, pair: Pair, configuration: AccountingConfiguration, choice: str
) -> None:
    other_firm = make_environment(session, name="Other Firm", plan=Plan.BASIC.value)
    theirs = make_configuration(session, other_firm, name="Their SFTP")
    value = {"other": str(theirs.id), "unknown": "9999", "garbage": "1; DROP", "huge": "99999999999"}[choice]
    exports.set_share_documents(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id, share=True
    )
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as refused:
        exports.choose_configuration(
            session,
            actor=pair.accountant,
            organisation_id=pair.client_organisation.id,
            configuration_id=value,
        )

    assert refused.value.errors == {
        "configuration": "This configuration does not exist (any more) in your environment."
    }
    assert snapshot(session) == before


def test_a_configuration_that_cannot_receive_documents_is_refused(session: Session, pair: Pair) -> None:
    archived = make_configuration(session, pair.firm, name="Old SFTP", archived=True)
    before = snapshot(session)

    with pytest.raises(ValidationFailed) as refused:
        exports.choose_configuration(
            session, actor=pair.accountant, organisation_id=pair.client_organisation.id,
            configuration_id=archived.id,
        )  # fmt: skip

    assert "\u201cOld SFTP\u201d cannot receive documents" in refused.value.errors["configuration"]
    assert snapshot(session) == before
    view = exports.accounting_connection(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id
    )
    assert view.configurations == []  # only usable configurations are offered


def test_sharing_off_and_removing_the_configuration_wait_for_the_deactivations(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    connect(session, pair, configuration, INVOICE)
    before = snapshot(session)

    with pytest.raises(Conflict, match="Deactivate the online connections"):
        exports.set_share_documents(
            session, actor=pair.accountant, organisation_id=organisation_id, share=False
        )
    with pytest.raises(ValidationFailed) as refused:
        exports.choose_configuration(
            session, actor=pair.accountant, organisation_id=organisation_id, configuration_id=""
        )
    assert "before you remove the configuration" in refused.value.errors["configuration"]
    assert snapshot(session) == before

    exports.deactivate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE)
    exports.choose_configuration(
        session, actor=pair.accountant, organisation_id=organisation_id, configuration_id=""
    )
    exports.set_share_documents(session, actor=pair.accountant, organisation_id=organisation_id, share=False)
    setting = setting_of(session, pair)
    assert setting is not None
    assert (setting.share_documents, setting.configuration_id, setting.invoices_active_since) == (
        False,
        None,
        None,
    )
    assert len(activities(session, action="export.sharing_off")) == 2


def test_an_ended_partnership_refuses_every_change_with_a_clear_message(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    connect(session, pair, configuration, INVOICE)
    document = make_document(session, pair.client_organisation)
    assert pair.partnership is not None
    end_partnership_row(session, pair.partnership)
    before = snapshot(session)
    message = "The partnership with Korenbloem Holding has ended"

    for change in (
        lambda: exports.set_share_documents(
            session, actor=pair.accountant, organisation_id=organisation_id, share=False
        ),
        lambda: exports.choose_configuration(
            session, actor=pair.accountant, organisation_id=organisation_id, configuration_id=configuration.id
        ),
        lambda: exports.activate_export(
            session, actor=pair.accountant, organisation_id=organisation_id, kind=STATEMENT
        ),
        lambda: exports.deactivate_export(
            session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE
        ),
        lambda: exports.export_earlier_documents(
            session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE
        ),
    ):
        with pytest.raises(Conflict, match=message):
            change()
    assert snapshot(session) == before

    # Nor is an upload queued for the former accountant.
    _, queued = upload(session, pair.client_organisation)
    assert queued == 0
    assert deliveries(session) == []
    assert document.id is not None


def test_the_organisations_own_users_and_plain_users_cannot_change_it(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    plain = make_user(session, pair.firm, role=Role.USER.value, name="Paul Plain")
    make_membership(session, plain, pair.client_organisation)
    outsider_firm = make_environment(session, name="Outsider", plan=Plan.BASIC.value)
    outsider = make_user(session, outsider_firm, role=Role.ADMINISTRATOR.value)
    partner_without_membership = make_user(session, pair.firm, role=Role.ADVANCED_USER.value)
    before = snapshot(session)

    with pytest.raises(PermissionDenied, match="one of your own organisations"):
        exports.set_share_documents(
            session, actor=pair.client_admin, organisation_id=organisation_id, share=True
        )
    for actor in (plain, outsider, partner_without_membership):
        with pytest.raises(NotFound):
            exports.set_share_documents(session, actor=actor, organisation_id=organisation_id, share=True)
        with pytest.raises(NotFound):
            exports.accounting_connection(session, actor=actor, organisation_id=organisation_id)
    with pytest.raises(NotFound):
        exports.set_share_documents(session, actor=pair.accountant, organisation_id=999999, share=True)
    assert snapshot(session) == before


def test_the_organisations_own_users_see_which_accountants_receive_its_documents(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    connect(session, pair, configuration, INVOICE, STATEMENT)

    view = exports.accounting_connection(
        session, actor=pair.client_admin, organisation_id=pair.client_organisation.id
    )

    assert not view.is_accountant and not view.can_change
    assert [(shared.environment_name, shared.exports) for shared in view.shared_with] == [
        ("Lovelace Accounting", ["export invoices", "statements"])
    ]
    assert view.deliveries == [] and view.configurations == []


# --- queueing on upload ---------------------------------------------------------------------------


def test_an_upload_is_queued_only_for_an_active_connection_of_its_kind(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    _, queued = upload(session, pair.client_organisation)
    assert queued == 0  # nothing set up yet

    exports.set_share_documents(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id, share=True
    )
    exports.choose_configuration(
        session,
        actor=pair.accountant,
        organisation_id=pair.client_organisation.id,
        configuration_id=configuration.id,
    )
    _, queued = upload(session, pair.client_organisation)
    assert queued == 0  # not activated yet

    exports.activate_export(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id, kind=INVOICE
    )
    invoice, queued_invoice = upload(session, pair.client_organisation, kind=INVOICE)
    _, queued_statement = upload(session, pair.client_organisation, kind=STATEMENT)

    assert (queued_invoice, queued_statement) == (1, 0)
    [delivery] = deliveries(session)
    assert (delivery.document_id, delivery.configuration_id) == (invoice.id, configuration.id)
    assert (delivery.organisation_id, delivery.environment_id) == (pair.client_organisation.id, pair.firm.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING.value, 0)

    # Queueing the same document again adds nothing.
    assert exports.queue_deliveries_for(session, invoice) == 0
    session.commit()
    assert len(deliveries(session)) == 1


def test_an_upload_is_queued_for_every_accountant_with_an_active_connection(
    session: Session, pair: Pair
) -> None:
    second_firm = make_environment(session, name="Babbage Bookkeeping", plan=Plan.BASIC.value)
    second_accountant = make_user(session, second_firm, role=Role.ADMINISTRATOR.value, name="Charles Babbage")
    make_partnership(session, second_firm, pair.client, initiator=second_firm)
    make_membership(session, second_accountant, pair.client_organisation)
    first = make_configuration(session, pair.firm, name="Lovelace SFTP")
    second = make_configuration(session, second_firm, name="Babbage SFTP")
    organisation_id = pair.client_organisation.id
    for actor, configuration in ((pair.accountant, first), (second_accountant, second)):
        exports.set_share_documents(session, actor=actor, organisation_id=organisation_id, share=True)
        exports.choose_configuration(
            session, actor=actor, organisation_id=organisation_id, configuration_id=configuration.id
        )
        exports.activate_export(session, actor=actor, organisation_id=organisation_id, kind=INVOICE)

    _, queued = upload(session, pair.client_organisation)

    assert queued == 2
    assert sorted((row.environment_id, row.configuration_id) for row in deliveries(session)) == [
        (pair.firm.id, first.id), (second_firm.id, second.id),
    ]  # fmt: skip
    # The other firm's deliveries are not in this firm's log.
    view = exports.accounting_connection(session, actor=pair.accountant, organisation_id=organisation_id)
    assert [row.configuration_name for row in view.deliveries] == ["Lovelace SFTP"]


def test_a_configuration_that_stopped_exporting_the_kind_gets_nothing_queued(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    connect(session, pair, configuration, INVOICE)
    configuration.exports_invoices = False
    session.add(configuration)
    session.commit()

    assert upload(session, pair.client_organisation)[1] == 0


# --- backfill -------------------------------------------------------------------------------------


def test_earlier_documents_are_offered_and_queued_once(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    earlier = [make_document(session, pair.client_organisation) for _ in range(3)]
    make_document(session, pair.client_organisation, kind=STATEMENT)
    connect(session, pair, configuration, INVOICE)
    upload(session, pair.client_organisation)  # after the activation: queued at once, not offered

    view = exports.accounting_connection(session, actor=pair.accountant, organisation_id=organisation_id)
    assert view.invoices.earlier_documents == 3
    assert view.statements.earlier_documents == 0  # statements are not active

    queued = exports.export_earlier_documents(
        session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE
    )

    assert queued == 3
    rows = deliveries(session)
    assert sorted(row.document_id for row in rows if row.document_id in {d.id for d in earlier}) == sorted(
        document.id for document in earlier
    )
    assert len(rows) == 4
    assert all(row.status == DeliveryStatus.PENDING.value for row in rows)
    [entry] = [
        row
        for row in activities(session, action="export.invoice_backfilled")
        if row.environment_id == pair.firm.id
    ]
    assert entry.summary == (
        "Ada Lovelace queued 3 earlier invoices of Bakkerij De Korenbloem for export to \u201cLovelace SFTP\u201d."
    )
    view = exports.accounting_connection(session, actor=pair.accountant, organisation_id=organisation_id)
    assert view.invoices.earlier_documents == 0

    before = snapshot(session)
    with pytest.raises(Conflict, match="Every earlier document is exported already."):
        exports.export_earlier_documents(
            session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE
        )
    assert snapshot(session) == before


def test_the_backfill_needs_the_connection_of_that_kind_to_be_active(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    make_document(session, pair.client_organisation, kind=STATEMENT)
    connect(session, pair, configuration, INVOICE)
    before = snapshot(session)

    with pytest.raises(Conflict, match="for statements is not active"):
        exports.export_earlier_documents(
            session, actor=pair.accountant, organisation_id=pair.client_organisation.id, kind=STATEMENT
        )
    assert snapshot(session) == before


# --- deactivation, the log and Retry --------------------------------------------------------------


def test_deactivating_stops_waiting_deliveries_with_the_reason_and_retry_needs_it_active_again(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    connect(session, pair, configuration, INVOICE)
    document, _ = upload(session, pair.client_organisation)

    exports.deactivate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE)

    [delivery] = deliveries(session)
    assert delivery.status == DeliveryStatus.FAILED.value
    assert delivery.last_error == "Not delivered: the online connection for export invoices was deactivated."
    assert fresh(session, Document, document.id) is not None  # the document stays
    assert sorted(
        row.environment_id for row in activities(session, action="export.invoice_deactivated")
    ) == sorted([pair.firm.id, pair.client.id])
    before = snapshot(session)
    with pytest.raises(Conflict, match="was deactivated"):
        exports.retry_delivery(session, actor=pair.accountant, delivery_id=delivery.id)
    assert snapshot(session) == before

    exports.activate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE)
    retried = exports.retry_delivery(session, actor=pair.accountant, delivery_id=delivery.id)

    assert (retried.status, retried.attempts, retried.last_error) == (DeliveryStatus.PENDING.value, 0, None)
    assert len(activities(session, action="export.retried")) == 2
    with pytest.raises(Conflict, match="not waiting to be sent again"):
        exports.retry_delivery(session, actor=pair.accountant, delivery_id=delivery.id)


def test_retry_is_for_the_deliveries_of_ones_own_environment(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    connect(session, pair, configuration, INVOICE)
    upload(session, pair.client_organisation)
    [delivery] = deliveries(session)
    delivery.status = DeliveryStatus.FAILED.value
    session.add(delivery)
    session.commit()
    before = snapshot(session)

    for actor in (
        pair.client_admin,
        make_user(session, make_environment(session, name="X"), role=Role.ADMINISTRATOR.value),
    ):
        with pytest.raises(NotFound, match="This delivery does not exist"):
            exports.retry_delivery(session, actor=actor, delivery_id=delivery.id)
    with pytest.raises(NotFound):
        exports.retry_delivery(session, actor=pair.accountant, delivery_id=0)
    assert snapshot(session, skip=("app_user", "environment")) == {
        name: rows for name, rows in before.items() if name not in ("app_user", "environment")
    }


def test_the_delivery_log_shows_each_state_newest_document_first(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    connect(session, pair, configuration, INVOICE)
    first, _ = upload(session, pair.client_organisation)
    second, _ = upload(session, pair.client_organisation)
    second.created_at = first.created_at + timedelta(seconds=1)
    session.add(second)
    rows = {row.document_id: row for row in deliveries(session)}
    delivered = rows[first.id]
    delivered.status, delivered.remote_path = DeliveryStatus.DELIVERED.value, f"invoices/x_{first.id}.pdf"
    delivered.delivered_at, delivered.attempts = utcnow(), 1
    retrying = rows[second.id]
    retrying.status, retrying.attempts, retrying.last_error = DeliveryStatus.RETRYING.value, 2, "Timed out"
    session.add_all([delivered, retrying])
    session.commit()

    view = exports.accounting_connection(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id
    )

    assert view.delivery_count == 2
    assert [(row.document_name, row.kind, row.status) for row in view.deliveries] == [
        (second.filename, INVOICE, "Retrying"),
        (first.filename, INVOICE, "Delivered"),
    ]
    assert view.deliveries[0].attempts == 2 and view.deliveries[0].last_error == "Timed out"
    assert view.deliveries[0].next_attempt_at is not None
    assert view.deliveries[1].remote_path == f"invoices/x_{first.id}.pdf"


def test_the_rules_are_read_again_before_delivery(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    connect(session, pair, configuration, INVOICE)
    upload(session, pair.client_organisation)
    [delivery] = deliveries(session)
    assert exports.delivery_refusal(session, delivery) is None

    other = make_configuration(session, pair.firm, name="New SFTP")
    exports.choose_configuration(
        session, actor=pair.accountant, organisation_id=pair.client_organisation.id, configuration_id=other.id
    )
    assert "now exports to another configuration" in str(exports.delivery_refusal(session, delivery))

    exports.choose_configuration(
        session,
        actor=pair.accountant,
        organisation_id=pair.client_organisation.id,
        configuration_id=configuration.id,
    )
    assert pair.partnership is not None
    end_partnership_row(session, pair.partnership)
    assert "The partnership with Korenbloem Holding has ended" in str(
        exports.delivery_refusal(session, delivery)
    )


def test_a_new_partnership_does_not_resume_the_exports_of_an_ended_one(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    connect(session, pair, configuration, INVOICE)
    assert pair.partnership is not None
    end_partnership_row(session, pair.partnership)
    make_partnership(session, pair.firm, pair.client, initiator=pair.firm)  # partners again, later

    _, queued = upload(session, pair.client_organisation)

    assert queued == 0
    view = exports.accounting_connection(session, actor=pair.accountant, organisation_id=organisation_id)
    assert (view.share_documents, view.configuration_id, view.invoices.active_since) == (False, None, None)
    client_view = exports.accounting_connection(
        session, actor=pair.client_admin, organisation_id=organisation_id
    )
    assert client_view.shared_with == []
    with pytest.raises(Conflict, match="Turn on Share documents with accountant first."):
        exports.activate_export(session, actor=pair.accountant, organisation_id=organisation_id, kind=INVOICE)

    # Set up again in the new partnership, it starts from nothing and works.
    exports.set_share_documents(session, actor=pair.accountant, organisation_id=organisation_id, share=True)
    setting = setting_of(session, pair)
    assert setting is not None
    assert (setting.share_documents, setting.configuration_id, setting.invoices_active_since) == (
        True,
        None,
        None,
    )
    connect(session, pair, configuration, INVOICE)
    assert upload(session, pair.client_organisation)[1] == 1


def test_turning_off_what_an_ended_partnership_left_writes_nothing(
    session: Session, pair: Pair, configuration: AccountingConfiguration
) -> None:
    organisation_id = pair.client_organisation.id
    connect(session, pair, configuration, INVOICE)
    assert pair.partnership is not None
    end_partnership_row(session, pair.partnership)
    make_partnership(session, pair.firm, pair.client, initiator=pair.firm)
    before = snapshot(session)

    exports.set_share_documents(session, actor=pair.accountant, organisation_id=organisation_id, share=False)
    exports.choose_configuration(
        session, actor=pair.accountant, organisation_id=organisation_id, configuration_id=""
    )

    assert snapshot(session) == before
