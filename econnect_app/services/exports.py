"""A client organisation's accounting package connection (seed 004) and its delivery log.

The accountant side (an Advanced user or Administrator of an environment that manages the
organisation through an active partnership, ``services/access.py``) sets, per organisation, in the
section ``Accounting package connection`` of ``/organisations/<id>``:

- ``Share documents with accountant`` (``ExportSetting.share_documents``);
- the ``Configuration`` (one of the environment's usable configurations, ``services/configurations.py``);
- the online connections ``export invoices`` and ``statements`` (``invoices_active_since`` /
  ``statements_active_since``), which need sharing on, a configuration, and a configuration that
  exports that kind.

Each change is one transaction with an activity row in both environments. An ended partnership
refuses every change with a message saying so, and a setting made during an earlier partnership
counts for nothing in a later one (``_from_current_partnership``): no export resumes by itself.

From then on every new document of that kind is queued for delivery in its upload's transaction
(``queue_deliveries_for``, called by ``services/documents.py``): a ``DocumentDelivery`` row
(Pending) per managing environment whose connection is active. The export worker
(``exports/worker.py``) delivers it, retrying with backoff, and checks these rules again before
each attempt (``delivery_refusal``): a deactivated connection or an ended partnership delivers
nothing more. Documents from before the activation are offered for a one-click backfill
(``export_earlier_documents``); a Failed delivery is queued again with ``retry_delivery``. One
document goes to one configuration once at most (unique ``(document_id, configuration_id)``).
Nothing is deleted: a failed delivery keeps its document and its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, literal, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from econnect_app import i18n, routes
from econnect_app.exports import wakeup
from econnect_app.formatting import display_name
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
    Partnership,
    PartnershipStatus,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import access, activity, configurations, effects, notifications, partnerships
from econnect_app.services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from econnect_app.services.permissions import can_manage_partnerships, load_actor
from econnect_app.services.transaction import committing
from econnect_app.services.validation import parse_id

DELIVERY_LOG_LIMIT = 50
NOTIFICATION_KIND = "export_failed"
# The messages in English (tests and pages compare them); shown translated with ``i18n.gettext``.
ORGANISATION_NOT_FOUND = i18n.N_("This organisation does not exist or you have no access to it.")
OWN_ORGANISATION = i18n.N_(
    "This is one of your own organisations: the accountant who manages it sets up its accounting package "
    "connection."
)
CHANGE_DENIED = i18n.N_(
    "Only Advanced users and Administrators can change the accounting package connection."
)
SHARE_FIRST = i18n.N_("Turn on Share documents with accountant first.")
CHOOSE_CONFIGURATION_FIRST = i18n.N_("Choose a configuration first.")
ACTIVE_EXPORTS_NEED_SHARING = i18n.N_(
    "Deactivate the online connections for export invoices and statements first: they deliver shared documents."
)
ACTIVE_EXPORTS_NEED_CONFIGURATION = i18n.N_(
    "Deactivate the online connections for export invoices and statements before you remove the configuration."
)
UNKNOWN_KIND = i18n.N_("Choose invoices or statements.")
DELIVERY_NOT_FOUND = i18n.N_("This delivery does not exist (any more).")
NOT_FAILED = i18n.N_("This document is not waiting to be sent again: it was delivered or is being delivered.")
NOTHING_EARLIER = i18n.N_("Every earlier document is exported already.")
CHANGED_MEANWHILE = i18n.N_("Someone changed this connection at the same moment. Try again.")


@dataclass(frozen=True)
class ExportKind:
    """How one kind of document is named and switched on (the names in English, marked for
    translation: ``i18n.gettext(kind.plural)`` where they are shown)."""

    value: str
    title: str  # "Invoice"
    singular: str  # "invoice"
    plural: str  # "invoices"
    connection: str  # the name of its online connection, as on the buttons
    setting_column: str  # ExportSetting's activation column
    configuration_flag: str  # AccountingConfiguration's flag
    configuration_option: str  # the option's name under Modify on Configurations


KINDS: dict[str, ExportKind] = {
    DocumentKind.INVOICE.value: ExportKind(
        value=DocumentKind.INVOICE.value,
        title=i18n.N_("Invoice"),
        singular=i18n.N_("invoice"),
        plural=i18n.N_("invoices"),
        connection=i18n.N_("export invoices"),
        setting_column="invoices_active_since",
        configuration_flag="exports_invoices",
        configuration_option=i18n.N_("Invoices export for accounting"),
    ),
    DocumentKind.STATEMENT.value: ExportKind(
        value=DocumentKind.STATEMENT.value,
        title=i18n.N_("Statement"),
        singular=i18n.N_("statement"),
        plural=i18n.N_("statements"),
        connection=i18n.N_("statements"),
        setting_column="statements_active_since",
        configuration_flag="exports_statements",
        configuration_option=i18n.N_("Bank statements export for accounting"),
    ),
}
TARGET_LABELS = {
    ConfigurationTarget.SFTP.value: "SFTP",
    ConfigurationTarget.DROPBOX.value: "Dropbox",
    ConfigurationTarget.OCTOPUS.value: "Octopus",
}
WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)


def export_kind(kind: str) -> ExportKind:
    """The kind of document (``invoice`` or ``statement``); Conflict for anything else."""
    found = KINDS.get(str(kind))
    if found is None:
        raise Conflict(i18n.gettext(UNKNOWN_KIND))
    return found


def active_since(setting: ExportSetting | None, kind: ExportKind) -> datetime | None:
    """When the online connection of ``kind`` was activated (None: not active)."""
    return None if setting is None else getattr(setting, kind.setting_column)


def exports_kind(configuration: AccountingConfiguration, kind: ExportKind) -> bool:
    """Whether the configuration exports documents of ``kind`` (chosen under Modify)."""
    return bool(getattr(configuration, kind.configuration_flag))


def partnership_ended_message(partner_name: str) -> str:
    return i18n.gettext(
        "The partnership with {partner} has ended: the accounting package connection of its "
        "organisations can no longer be changed and no documents are exported.",
        partner=partner_name,
    )


def not_exported_message(configuration_name: str, kind: ExportKind) -> str:
    return i18n.gettext(
        "The configuration \u201c{configuration}\u201d does not export {documents}. Open it on "
        "Configurations, choose Modify and select {option}.",
        configuration=configuration_name,
        documents=i18n.gettext(kind.plural),
        option=i18n.gettext(kind.configuration_option),
    )


def not_usable_message(configuration_name: str) -> str:
    return i18n.gettext(
        "The configuration \u201c{configuration}\u201d cannot receive documents: it was removed or is not "
        "connected. Choose another configuration or connect it again on Configurations.",
        configuration=configuration_name,
    )


def already_active_message(kind: ExportKind) -> str:
    return i18n.gettext(
        "The online connection for {connection} is active already.", connection=i18n.gettext(kind.connection)
    )


def not_active_message(kind: ExportKind) -> str:
    return i18n.gettext(
        "The online connection for {connection} is not active.", connection=i18n.gettext(kind.connection)
    )


def _earlier_documents(count: int, kind: ExportKind) -> str:
    """``3 earlier invoices``, ``1 earlier statement``."""
    if kind.value == DocumentKind.INVOICE.value:
        return i18n.ngettext("{count} earlier invoice", "{count} earlier invoices", count)
    return i18n.ngettext("{count} earlier statement", "{count} earlier statements", count)


# --- views ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigurationChoice:
    """A configuration the select offers."""

    id: int
    name: str
    target: str  # "SFTP", "Dropbox", "Octopus"
    usable: bool
    exports_invoices: bool
    exports_statements: bool


@dataclass(frozen=True)
class ExportState:
    """One online connection (export invoices or statements) of the organisation."""

    kind: str
    active_since: datetime | None
    configuration_exports_it: bool
    earlier_documents: int  # of this kind, never queued for the chosen configuration


@dataclass(frozen=True)
class DeliveryRow:
    """One line of the delivery log."""

    delivery_id: int
    document_id: int
    document_name: str
    kind: str
    uploaded_at: datetime
    configuration_name: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    remote_path: str
    delivered_at: datetime | None


@dataclass(frozen=True)
class SharedWith:
    """For the organisation's own users: an accountant that receives its documents."""

    environment_name: str
    exports: list[str]  # "export invoices", "statements"


@dataclass(frozen=True)
class AccountingConnectionView:
    """The section ``Accounting package connection`` as one user sees it."""

    organisation_id: int
    organisation_name: str
    owner_name: str
    is_accountant: bool  # False: one of the user's own organisations (read-only summary)
    can_change: bool
    share_documents: bool
    configuration_id: int | None
    configuration_name: str
    configuration_usable: bool
    configurations: list[ConfigurationChoice]
    invoices: ExportState
    statements: ExportState
    deliveries: list[DeliveryRow]
    delivery_count: int
    shared_with: list[SharedWith]


# --- who may do what ------------------------------------------------------------------------------


def _environment_name(session: Session, environment_id: int) -> str:
    environment = session.get(Environment, environment_id)
    return environment.name if environment else ""


def _had_partnership(session: Session, *, environment_id: int, partner_environment_id: int) -> bool:
    """Whether the two environments were partners once (an ended partnership)."""
    low, high = sorted((environment_id, partner_environment_id))
    statement = select(Partnership.id).where(
        Partnership.environment_low_id == low,
        Partnership.environment_high_id == high,
        Partnership.status == PartnershipStatus.ENDED.value,
    )
    return session.exec(statement.limit(1)).first() is not None


def _organisation(session: Session, organisation_id: int) -> Organisation:
    organisation = session.get(Organisation, organisation_id) if 0 < organisation_id < 2**31 else None
    if organisation is None:
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    return organisation


def _managed_organisation(session: Session, *, actor: User, organisation_id: int) -> Organisation:
    """A client organisation the actor's environment manages, for a change by the actor.

    NotFound without access (nothing revealed); PermissionDenied for the organisation's own users
    and plain Users; Conflict with a clear message when the partnership has ended."""
    organisation = _organisation(session, organisation_id)
    if organisation.environment_id == actor.environment_id:
        raise PermissionDenied(i18n.gettext(OWN_ORGANISATION))
    if not partnerships.has_active_partnership(
        session, environment_a_id=actor.environment_id, environment_b_id=organisation.environment_id
    ):
        if _had_partnership(
            session, environment_id=actor.environment_id, partner_environment_id=organisation.environment_id
        ):
            raise Conflict(partnership_ended_message(_environment_name(session, organisation.environment_id)))
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    if not access.user_can_access_organisation(session, user=actor, organisation=organisation):
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    if not can_manage_partnerships(actor):
        raise PermissionDenied(i18n.gettext(CHANGE_DENIED))
    return organisation


def _setting_row(
    session: Session, *, organisation_id: int, environment_id: int, for_update: bool = False
) -> ExportSetting | None:
    statement = select(ExportSetting).where(
        ExportSetting.organisation_id == organisation_id, ExportSetting.environment_id == environment_id
    )
    if for_update:
        statement = statement.with_for_update()
    return session.exec(statement.execution_options(populate_existing=True)).first()


def _from_current_partnership(session: Session, setting: ExportSetting, organisation: Organisation) -> bool:
    """Whether the setting was made during the partnership that is active now. One last changed
    before it began was made during an earlier, ended partnership: it counts for nothing, so a
    new partnership never resumes exports nobody activated in it."""
    partnership = partnerships.active_partnership(
        session, environment_id=setting.environment_id, partner_environment_id=organisation.environment_id
    )
    return partnership is not None and setting.updated_at >= partnership.created_at


def _setting(
    session: Session, *, organisation: Organisation, environment_id: int, for_update: bool = False
) -> ExportSetting | None:
    """The environment's setting for the organisation, when it belongs to the current partnership."""
    setting = _setting_row(
        session,
        organisation_id=organisation.id,  # type: ignore[arg-type]
        environment_id=environment_id,
        for_update=for_update,
    )
    if setting is None or not _from_current_partnership(session, setting, organisation):
        return None
    return setting


def _setting_to_change(session: Session, *, organisation: Organisation, actor: User) -> ExportSetting:
    """The environment's setting for the organisation (row-locked on PostgreSQL), or a new one; one
    from an earlier partnership starts over empty."""
    setting = _setting_row(
        session,
        organisation_id=organisation.id,  # type: ignore[arg-type]
        environment_id=actor.environment_id,
        for_update=True,
    )
    if setting is None:
        return ExportSetting(organisation_id=organisation.id, environment_id=actor.environment_id)  # type: ignore[arg-type]
    if not _from_current_partnership(session, setting, organisation):
        setting.share_documents = False
        setting.configuration_id = None
        setting.invoices_active_since = setting.statements_active_since = None
    return setting


def _unchanged(session: Session, setting: ExportSetting) -> ExportSetting:
    """Nothing to change: forget what ``_setting_to_change`` cleared in memory (an earlier
    partnership's setting), so nothing is written."""
    if setting in session:
        session.expire(setting)
    return setting


def _record_both_sides(
    session: Session, *, actor: User, organisation: Organisation, action: str, what: str
) -> None:
    """``what`` (e.g. "turned on Share documents with accountant for X", translated) in the
    activity log of the accountant's environment and of the organisation's."""
    firm_name = _environment_name(session, actor.environment_id)
    activity.record_each(
        session,
        {
            actor.environment_id: f"{display_name(actor)} {what}",
            organisation.environment_id: i18n.gettext(
                "{actor} of {firm} {what}", actor=display_name(actor), firm=firm_name, what=what
            ),
        },
        actor=actor,
        action=action,
        subject_type=activity.ORGANISATION_SUBJECT,
        subject_id=organisation.id,
    )


def _save(session: Session, setting: ExportSetting) -> None:
    setting.updated_at = utcnow()
    session.add(setting)


# --- changes --------------------------------------------------------------------------------------


def set_share_documents(session: Session, *, actor: User, organisation_id: int, share: bool) -> ExportSetting:
    """Turn ``Share documents with accountant`` on or off (off only while no export is active)."""
    actor = load_actor(session, actor)
    organisation = _managed_organisation(session, actor=actor, organisation_id=organisation_id)
    try:
        with committing(session):
            setting = _setting_to_change(session, organisation=organisation, actor=actor)
            if bool(setting.share_documents) == bool(share):
                return _unchanged(session, setting)  # already so (another tab)
            if not share and (setting.invoices_active_since or setting.statements_active_since):
                raise Conflict(i18n.gettext(ACTIVE_EXPORTS_NEED_SHARING))
            setting.share_documents = bool(share)
            _save(session, setting)
            _record_both_sides(
                session,
                actor=actor,
                organisation=organisation,
                action="export.sharing_on" if share else "export.sharing_off",
                what=i18n.gettext(
                    "turned on Share documents with accountant for {organisation}.",
                    organisation=organisation.name,
                )
                if share
                else i18n.gettext(
                    "turned off Share documents with accountant for {organisation}.",
                    organisation=organisation.name,
                ),
            )
    except IntegrityError as error:
        raise Conflict(i18n.gettext(CHANGED_MEANWHILE)) from error
    return setting


def choose_configuration(
    session: Session, *, actor: User, organisation_id: int, configuration_id: int | str | None
) -> ExportSetting:
    """Choose the configuration that receives the organisation's documents (empty: none, only
    while no export is active). An unknown configuration, another environment's, or one that
    cannot receive documents is refused next to the field; nothing changes."""
    actor = load_actor(session, actor)
    organisation = _managed_organisation(session, actor=actor, organisation_id=organisation_id)
    chosen: AccountingConfiguration | None = None
    raw = "" if configuration_id is None else str(configuration_id).strip()
    if raw:
        number = parse_id(configuration_id)
        try:
            if number is None:
                raise NotFound(i18n.gettext(configurations.CONFIGURATION_NOT_FOUND))
            chosen = configurations.get_configuration(
                session, environment_id=actor.environment_id, configuration_id=number
            )
        except NotFound as error:
            raise ValidationFailed({"configuration": error.message}) from error
        if not configurations.is_usable(chosen):
            raise ValidationFailed({"configuration": not_usable_message(chosen.name)})
    try:
        with committing(session):
            setting = _setting_to_change(session, organisation=organisation, actor=actor)
            new_id = chosen.id if chosen is not None else None
            if setting.configuration_id == new_id:
                return _unchanged(session, setting)  # already chosen
            if chosen is None and (setting.invoices_active_since or setting.statements_active_since):
                raise ValidationFailed({"configuration": i18n.gettext(ACTIVE_EXPORTS_NEED_CONFIGURATION)})
            if chosen is not None:
                for kind in KINDS.values():
                    if active_since(setting, kind) and not exports_kind(chosen, kind):
                        raise ValidationFailed({"configuration": not_exported_message(chosen.name, kind)})
            setting.configuration_id = new_id
            _save(session, setting)
            what = (
                i18n.gettext(
                    "chose the configuration \u201c{configuration}\u201d for {organisation}.",
                    configuration=chosen.name,
                    organisation=organisation.name,
                )
                if chosen is not None
                else i18n.gettext(
                    "removed the configuration of {organisation}.", organisation=organisation.name
                )
            )
            _record_both_sides(
                session,
                actor=actor,
                organisation=organisation,
                action="export.configuration_chosen",
                what=what,
            )
    except IntegrityError as error:
        raise Conflict(i18n.gettext(CHANGED_MEANWHILE)) from error
    return setting


def _usable_chosen_configuration(
    session: Session, *, setting: ExportSetting | None, kind: ExportKind
) -> AccountingConfiguration:
    """The setting's configuration, when documents of ``kind`` can be exported to it (Conflict
    with what is missing otherwise)."""
    if setting is None or not setting.share_documents:
        raise Conflict(i18n.gettext(SHARE_FIRST))
    if setting.configuration_id is None:
        raise Conflict(i18n.gettext(CHOOSE_CONFIGURATION_FIRST))
    configuration = session.get(AccountingConfiguration, setting.configuration_id)
    if configuration is None or not configurations.is_usable(configuration):
        raise Conflict(not_usable_message(configuration.name if configuration else ""))
    if not exports_kind(configuration, kind):
        raise Conflict(not_exported_message(configuration.name, kind))
    return configuration


def activate_export(session: Session, *, actor: User, organisation_id: int, kind: str) -> ExportSetting:
    """Activate the online connection for ``kind``: from now on its new documents are delivered.
    Needs sharing on and a configuration that exports ``kind``."""
    actor = load_actor(session, actor)
    organisation = _managed_organisation(session, actor=actor, organisation_id=organisation_id)
    export = export_kind(kind)
    with committing(session):
        setting = _setting(
            session, organisation=organisation, environment_id=actor.environment_id, for_update=True
        )
        configuration = _usable_chosen_configuration(session, setting=setting, kind=export)
        assert setting is not None
        if active_since(setting, export) is not None:
            raise Conflict(already_active_message(export))
        setattr(setting, export.setting_column, utcnow())
        _save(session, setting)
        _record_both_sides(
            session,
            actor=actor,
            organisation=organisation,
            action=f"export.{export.value}_activated",
            what=i18n.gettext(
                "activated the online connection for {connection} of {organisation} "
                "(configuration \u201c{configuration}\u201d).",
                connection=i18n.gettext(export.connection),
                organisation=organisation.name,
                configuration=configuration.name,
            ),
        )
    return setting


def deactivate_export(session: Session, *, actor: User, organisation_id: int, kind: str) -> ExportSetting:
    """Deactivate the online connection for ``kind``: its documents are no longer delivered, and
    those still waiting are marked Failed with the reason (Retry after activating again)."""
    actor = load_actor(session, actor)
    organisation = _managed_organisation(session, actor=actor, organisation_id=organisation_id)
    export = export_kind(kind)
    with committing(session):
        setting = _setting(
            session, organisation=organisation, environment_id=actor.environment_id, for_update=True
        )
        if setting is None or active_since(setting, export) is None:
            raise Conflict(not_active_message(export))
        setattr(setting, export.setting_column, None)
        _save(session, setting)
        _stop_waiting_deliveries(
            session,
            organisation_id=organisation.id,  # type: ignore[arg-type]
            environment_id=actor.environment_id,
            kind=export,
            reason=deactivated_reason(export),
        )
        _record_both_sides(
            session,
            actor=actor,
            organisation=organisation,
            action=f"export.{export.value}_deactivated",
            what=i18n.gettext(
                "deactivated the online connection for {connection} of {organisation}.",
                connection=i18n.gettext(export.connection),
                organisation=organisation.name,
            ),
        )
    return setting


def deactivated_reason(kind: ExportKind) -> str:
    return i18n.gettext(
        "Not delivered: the online connection for {connection} was deactivated.",
        connection=i18n.gettext(kind.connection),
    )


def _stop_waiting_deliveries(
    session: Session, *, organisation_id: int, environment_id: int, kind: ExportKind, reason: str
) -> int:
    """Mark the organisation's waiting deliveries of ``kind`` Failed with ``reason`` (a delivery
    being delivered right now finishes; the worker checks the rules before each attempt)."""
    documents_of_kind = select(Document.id).where(
        Document.organisation_id == organisation_id, Document.kind == kind.value
    )
    result = session.execute(
        update(DocumentDelivery)
        .where(
            col(DocumentDelivery.organisation_id) == organisation_id,
            col(DocumentDelivery.environment_id) == environment_id,
            col(DocumentDelivery.status).in_(WAITING),
            col(DocumentDelivery.document_id).in_(documents_of_kind),
        )
        .values(status=DeliveryStatus.FAILED.value, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    effects.changed(session, environment_id)
    return int(result.rowcount or 0)


def export_earlier_documents(session: Session, *, actor: User, organisation_id: int, kind: str) -> int:
    """Queue the organisation's documents of ``kind`` that were never queued for the chosen
    configuration (those from before the activation); how many. Idempotent: a document is
    queued for a configuration once."""
    actor = load_actor(session, actor)
    organisation = _managed_organisation(session, actor=actor, organisation_id=organisation_id)
    export = export_kind(kind)
    setting = _setting(session, organisation=organisation, environment_id=actor.environment_id)
    configuration = _usable_chosen_configuration(session, setting=setting, kind=export)
    if active_since(setting, export) is None:
        raise Conflict(not_active_message(export))
    assert configuration.id is not None
    with committing(session):
        queued = _queue_earlier(
            session,
            organisation_id=organisation.id,  # type: ignore[arg-type]
            environment_id=actor.environment_id,
            configuration_id=configuration.id,
            kind=export,
        )
        if not queued:
            raise Conflict(i18n.gettext(NOTHING_EARLIER))
        _record_both_sides(
            session,
            actor=actor,
            organisation=organisation,
            action=f"export.{export.value}_backfilled",
            what=i18n.gettext(
                "queued {documents} of {organisation} for export to \u201c{configuration}\u201d.",
                documents=_earlier_documents(queued, export),
                organisation=organisation.name,
                configuration=configuration.name,
            ),
        )
        wakeup.wake_after_commit(session)
    return queued


def retry_delivery(session: Session, *, actor: User, delivery_id: int) -> DocumentDelivery:
    """Queue a Failed delivery of the actor's environment again (its attempts start over), while
    its online connection is still active with that configuration."""
    actor = load_actor(session, actor)
    delivery = (
        session.get(DocumentDelivery, delivery_id, populate_existing=True)
        if 0 < delivery_id < 2**31
        else None
    )
    if delivery is None or delivery.environment_id != actor.environment_id:
        raise NotFound(i18n.gettext(DELIVERY_NOT_FOUND))
    organisation = _managed_organisation(session, actor=actor, organisation_id=delivery.organisation_id)
    if delivery.status != DeliveryStatus.FAILED.value:
        raise Conflict(i18n.gettext(NOT_FAILED))
    refusal = delivery_refusal(session, delivery)
    if refusal is not None:
        raise Conflict(refusal)
    document = session.get(Document, delivery.document_id)
    assert document is not None
    now = utcnow()
    with committing(session):
        result = session.execute(
            update(DocumentDelivery)
            .where(
                col(DocumentDelivery.id) == delivery.id,
                col(DocumentDelivery.status) == DeliveryStatus.FAILED.value,
            )
            .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, last_error=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict(i18n.gettext(NOT_FAILED))
        effects.changed(session, delivery.environment_id)
        _record_both_sides(
            session,
            actor=actor,
            organisation=organisation,
            action="export.retried",
            what=i18n.gettext(
                "queued \u201c{document}\u201d of {organisation} for export again.",
                document=document.filename,
                organisation=organisation.name,
            ),
        )
        wakeup.wake_after_commit(session)
    session.refresh(delivery)
    return delivery


# --- queueing -------------------------------------------------------------------------------------


def _insert_ignoring_duplicates(session: Session):  # type: ignore[no-untyped-def]
    """``INSERT ... ON CONFLICT DO NOTHING`` for document deliveries, on either database."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(DocumentDelivery)


def _never_queued_for(configuration_id: int):  # type: ignore[no-untyped-def]
    return ~exists().where(
        DocumentDelivery.document_id == Document.id, DocumentDelivery.configuration_id == configuration_id
    )


def earlier_documents_count(
    session: Session, *, organisation_id: int, configuration_id: int, kind: ExportKind
) -> int:
    """How many documents of ``kind`` of the organisation were never queued for the configuration."""
    statement = (
        select(func.count())
        .select_from(Document)
        .where(
            Document.organisation_id == organisation_id,
            Document.kind == kind.value,
            _never_queued_for(configuration_id),
        )
    )
    return int(session.exec(statement).one())


def _queue_earlier(
    session: Session, *, organisation_id: int, environment_id: int, configuration_id: int, kind: ExportKind
) -> int:
    now = utcnow()
    time_type = DocumentDelivery.__table__.c.next_attempt_at.type  # type: ignore[attr-defined]
    documents = select(
        col(Document.id),
        literal(configuration_id),
        literal(organisation_id),
        literal(environment_id),
        literal(DeliveryStatus.PENDING.value),
        literal(0),
        literal(now, type_=time_type),
        literal(now, type_=time_type),
    ).where(
        col(Document.organisation_id) == organisation_id,
        col(Document.kind) == kind.value,
        _never_queued_for(configuration_id),
    )
    statement = (
        _insert_ignoring_duplicates(session)
        .from_select(
            [
                "document_id",
                "configuration_id",
                "organisation_id",
                "environment_id",
                "status",
                "attempts",
                "next_attempt_at",
                "created_at",
            ],  # fmt: skip
            documents,
        )
        .on_conflict_do_nothing(index_elements=["document_id", "configuration_id"])
        .returning(col(DocumentDelivery.id))
    )
    queued = len(session.execute(statement).all())  # rows returned: rowcount is -1 on PostgreSQL here
    effects.changed(session, environment_id)
    return queued


def queue_deliveries_for(session: Session, document: Document) -> int:
    """Queue a new document for every accountant whose online connection of its kind is active
    (in the caller's transaction: the upload's); how many deliveries were queued.

    An accountant environment qualifies while it still reaches the organisation (active
    partnership, ``access.environment_can_access_organisation``), shares documents, has chosen a
    usable configuration that exports this kind, and has activated that kind. Calling it twice
    queues nothing more.
    """
    export = KINDS.get(document.kind)
    if export is None:
        return 0
    if document.id is None:
        session.flush()
    organisation = session.get(Organisation, document.organisation_id)
    if organisation is None:
        return 0
    settings = session.exec(
        select(ExportSetting).where(
            ExportSetting.organisation_id == organisation.id,
            col(ExportSetting.share_documents).is_(True),
            col(ExportSetting.configuration_id).is_not(None),
            col(getattr(ExportSetting, export.setting_column)).is_not(None),
        )
    ).all()
    now = utcnow()
    rows = []
    for setting in settings:
        configuration = session.get(AccountingConfiguration, setting.configuration_id)
        if (
            configuration is None
            or not configurations.is_usable(configuration)
            or not exports_kind(configuration, export)
        ):
            continue
        if not access.environment_can_access_organisation(
            session, environment_id=setting.environment_id, organisation=organisation
        ) or not _from_current_partnership(session, setting, organisation):
            continue
        rows.append(
            {
                "document_id": document.id,
                "configuration_id": configuration.id,
                "organisation_id": organisation.id,
                "environment_id": setting.environment_id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if not rows:
        return 0
    statement = (
        _insert_ignoring_duplicates(session)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["document_id", "configuration_id"])
        .returning(col(DocumentDelivery.id))
    )
    queued = len(session.execute(statement).all())
    for row in rows:
        effects.changed(session, row["environment_id"])
    wakeup.wake_after_commit(session)
    return queued


# --- the rules again, before each attempt ---------------------------------------------------------


def delivery_refusal(session: Session, delivery: DocumentDelivery) -> str | None:
    """Why the delivery may not be made now (None: it may): its document's online connection was
    deactivated, moved to another configuration, the configuration cannot receive documents any
    more, or the partnership ended. Read by the worker before every attempt and by Retry."""
    document = session.get(Document, delivery.document_id)
    organisation = session.get(Organisation, delivery.organisation_id)
    configuration = session.get(AccountingConfiguration, delivery.configuration_id)
    if document is None or organisation is None or configuration is None:
        return i18n.gettext("Not delivered: the document or the configuration no longer exists.")
    export = KINDS.get(document.kind)
    if export is None:
        return i18n.gettext("Not delivered: this kind of document is not exported.")
    if not partnerships.has_active_partnership(
        session, environment_a_id=delivery.environment_id, environment_b_id=organisation.environment_id
    ):
        return _not_delivered(
            partnership_ended_message(_environment_name(session, organisation.environment_id))
        )
    if not access.environment_can_access_organisation(
        session, environment_id=delivery.environment_id, organisation=organisation
    ):
        return i18n.gettext("Not delivered: your environment no longer has access to this organisation.")
    setting = _setting(session, organisation=organisation, environment_id=delivery.environment_id)
    if setting is None or not setting.share_documents:
        return i18n.gettext("Not delivered: Share documents with accountant was turned off.")
    if active_since(setting, export) is None:
        return deactivated_reason(export)
    if setting.configuration_id != configuration.id:
        return i18n.gettext(
            "Not delivered: {organisation} now exports to another configuration. "
            "Use Export earlier documents to send it there.",
            organisation=organisation.name,
        )
    if not configurations.is_usable(configuration):
        return _not_delivered(not_usable_message(configuration.name))
    if not exports_kind(configuration, export):
        return _not_delivered(not_exported_message(configuration.name, export))
    return None


def _not_delivered(reason: str) -> str:
    return i18n.gettext("Not delivered: {reason}", reason=reason)


def notify_administrators_of_failure(
    session: Session, *, delivery: DocumentDelivery, document_name: str, reason: str
) -> None:
    """Tell each active Administrator of the accountant's environment that a document could not
    be delivered (in the caller's transaction: the worker's, with the failure itself), in the
    language the Administrator chose (else the one in effect)."""
    organisation = session.get(Organisation, delivery.organisation_id)
    configuration = session.get(AccountingConfiguration, delivery.configuration_id)
    administrators = session.exec(
        select(User.id, User.language).where(
            col(User.environment_id) == delivery.environment_id,
            col(User.role) == Role.ADMINISTRATOR.value,
            col(User.status) == UserStatus.ACTIVE.value,
        )
    ).all()
    for user_id, language in administrators:
        with i18n.in_language(language or i18n.language_in_effect()):
            where = (
                f"\u201c{configuration.name}\u201d" if configuration else i18n.gettext("its configuration")
            )
            if organisation is not None:
                message = i18n.gettext(
                    "\u201c{document}\u201d of {organisation} could not be delivered to {target}: {reason} "
                    "Open the organisation to retry.",
                    document=document_name,
                    organisation=organisation.name,
                    target=where,
                    reason=reason,
                )
            else:
                message = i18n.gettext(
                    "\u201c{document}\u201d could not be delivered to {target}: {reason} "
                    "Open the organisation to retry.",
                    document=document_name,
                    target=where,
                    reason=reason,
                )
        notifications.notify(
            session,
            environment_id=delivery.environment_id,
            user_id=user_id,
            kind=NOTIFICATION_KIND,
            message=message,
            link=routes.organisation(delivery.organisation_id),
        )


# --- reading the section --------------------------------------------------------------------------


def _export_state(
    session: Session,
    *,
    organisation_id: int,
    setting: ExportSetting | None,
    configuration: AccountingConfiguration | None,
    kind: ExportKind,
) -> ExportState:
    since = active_since(setting, kind)
    earlier = 0
    if since is not None and configuration is not None and configuration.id is not None:
        earlier = earlier_documents_count(
            session, organisation_id=organisation_id, configuration_id=configuration.id, kind=kind
        )
    return ExportState(
        kind=kind.value,
        active_since=since,
        configuration_exports_it=configuration is not None and exports_kind(configuration, kind),
        earlier_documents=earlier,
    )


def _choice(configuration: AccountingConfiguration) -> ConfigurationChoice:
    return ConfigurationChoice(
        id=configuration.id,  # type: ignore[arg-type]
        name=configuration.name,
        target=TARGET_LABELS.get(configuration.target, configuration.target),
        usable=configurations.is_usable(configuration),
        exports_invoices=configuration.exports_invoices,
        exports_statements=configuration.exports_statements,
    )


def delivery_log(
    session: Session, *, organisation_id: int, environment_id: int, limit: int = DELIVERY_LOG_LIMIT
) -> tuple[list[DeliveryRow], int]:
    """The environment's deliveries of the organisation's documents, newest first, and how many
    there are in all."""
    conditions = (
        DocumentDelivery.organisation_id == organisation_id,
        DocumentDelivery.environment_id == environment_id,
    )
    rows = session.exec(
        select(DocumentDelivery, Document, AccountingConfiguration)
        .join(Document, Document.id == DocumentDelivery.document_id)  # type: ignore[arg-type]
        .join(AccountingConfiguration, AccountingConfiguration.id == DocumentDelivery.configuration_id)  # type: ignore[arg-type]
        .where(*conditions)
        .order_by(col(Document.created_at).desc(), col(DocumentDelivery.id).desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    ).all()
    total = int(session.exec(select(func.count()).select_from(DocumentDelivery).where(*conditions)).one())
    return [
        DeliveryRow(
            delivery_id=delivery.id,  # type: ignore[arg-type]
            document_id=document.id,  # type: ignore[arg-type]
            document_name=document.filename,
            kind=document.kind,
            uploaded_at=document.created_at,
            configuration_name=configuration.name,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at
            if delivery.status == DeliveryStatus.RETRYING.value
            else None,
            last_error=delivery.last_error or "",
            remote_path=delivery.remote_path,
            delivered_at=delivery.delivered_at,
        )
        for delivery, document, configuration in rows
    ], total


def _shared_with(session: Session, *, organisation: Organisation) -> list[SharedWith]:
    """For the organisation's own users: which accountants receive its documents."""
    settings = session.exec(
        select(ExportSetting)
        .where(ExportSetting.organisation_id == organisation.id, col(ExportSetting.share_documents).is_(True))
        .order_by(col(ExportSetting.id))
    ).all()
    shared = []
    for setting in settings:
        if not access.environment_can_access_organisation(
            session, environment_id=setting.environment_id, organisation=organisation
        ) or not _from_current_partnership(session, setting, organisation):
            continue
        shared.append(
            SharedWith(
                environment_name=_environment_name(session, setting.environment_id),
                exports=[
                    i18n.gettext(kind.connection)
                    for kind in KINDS.values()
                    if active_since(setting, kind) is not None
                ],
            )
        )
    return shared


def accounting_connection(session: Session, *, actor: User, organisation_id: int) -> AccountingConnectionView:
    """The section for one organisation the user may open (NotFound otherwise).

    The accountant side sees and (Advanced users, Administrators) changes its own connection; the
    organisation's own users see which accountants receive its documents.
    """
    actor = load_actor(session, actor)
    organisation = _organisation(session, organisation_id)
    if not access.user_can_access_organisation(session, user=actor, organisation=organisation):
        raise NotFound(i18n.gettext(ORGANISATION_NOT_FOUND))
    owner_name = _environment_name(session, organisation.environment_id)
    is_accountant = organisation.environment_id != actor.environment_id
    setting = None
    configuration = None
    choices: list[ConfigurationChoice] = []
    deliveries: list[DeliveryRow] = []
    delivery_count = 0
    if is_accountant:
        setting = _setting(session, organisation=organisation, environment_id=actor.environment_id)
        usable = configurations.usable_configurations(session, environment_id=actor.environment_id)
        choices = [_choice(choice) for choice in usable]
        if setting is not None and setting.configuration_id is not None:
            configuration = session.get(AccountingConfiguration, setting.configuration_id)
            if configuration is not None and all(choice.id != configuration.id for choice in choices):
                choices.append(_choice(configuration))  # chosen earlier, no longer usable: still shown
        deliveries, delivery_count = delivery_log(
            session,
            organisation_id=organisation.id,
            environment_id=actor.environment_id,  # type: ignore[arg-type]
        )
    return AccountingConnectionView(
        organisation_id=organisation.id,  # type: ignore[arg-type]
        organisation_name=organisation.name,
        owner_name=owner_name,
        is_accountant=is_accountant,
        can_change=is_accountant and can_manage_partnerships(actor),
        share_documents=bool(setting and setting.share_documents),
        configuration_id=configuration.id if configuration is not None else None,
        configuration_name=configuration.name if configuration is not None else "",
        configuration_usable=configuration is not None and configurations.is_usable(configuration),
        configurations=choices,
        invoices=_export_state(
            session,
            organisation_id=organisation.id,
            setting=setting,
            configuration=configuration,  # type: ignore[arg-type]
            kind=KINDS[DocumentKind.INVOICE.value],
        ),  # fmt: skip
        statements=_export_state(
            session,
            organisation_id=organisation.id,
            setting=setting,
            configuration=configuration,  # type: ignore[arg-type]
            kind=KINDS[DocumentKind.STATEMENT.value],
        ),  # fmt: skip
        deliveries=deliveries,
        delivery_count=delivery_count,
        shared_with=[] if is_accountant else _shared_with(session, organisation=organisation),
    )
