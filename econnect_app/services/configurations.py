"""Accounting package configurations (seed 004): where an environment's client documents go.

A configuration is an export target of an accountant's environment: an SFTP server, a Dropbox
account or an Octopus dossier. Advanced users and Administrators manage them (``/configurations``);
each client organisation is then assigned one (``services/exports.py``).

- **SFTP**: ``connect_sftp`` verifies before it saves: it logs in with the password, records the
  server's host key on first use (``exports/sftp.py``) and writes and removes a test file. The
  password is stored encrypted (``exports/credentials.py``). ``change_sftp_connection`` (Modify)
  verifies again, against the recorded host key unless the host or port changed or the user
  trusts the server's new key.
- **Dropbox / Octopus**: "Sign in with ..." (``services/oauth_sign_in.py``) stores the tokens in a
  configuration that is not finished yet; ``connect_oauth`` finishes it (the Octopus dossier, the
  terms of service).
- ``update_configuration`` (Modify): name, which documents it exports, the Octopus dossier.
- ``archive_configuration``: it receives nothing any more; kept, as history.

The network work (verifying a server, listing dossiers) happens outside the write transaction;
the write then re-checks the actor. Every change records an activity row. Nothing is saved when a
check fails.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from econnect_app import crypto, i18n
from econnect_app.exports import cloud, credentials, sftp
from econnect_app.exports.targets import TARGET_LABELS, DeliveryError
from econnect_app.formatting import display_name
from econnect_app.models import (
    AccountingConfiguration,
    ConfigurationTarget,
    ExportSetting,
    Role,
    User,
    utcnow,
)
from econnect_app.services import activity, throttle
from econnect_app.services.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from econnect_app.services.permissions import load_actor
from econnect_app.services.transaction import committing
from econnect_app.services.validation import FieldError, FieldErrors, clean_optional, parse_id, without_nul

# The messages in English (tests and pages compare them); shown translated with ``i18n.gettext``.
CONFIGURATION_NOT_FOUND = i18n.N_("This configuration does not exist (any more) in your environment.")
MANAGE_DENIED = i18n.N_(
    "Only Advanced users and Administrators can manage accounting package configurations."
)
MANAGER_ROLES = (Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value)
SUBJECT = "accounting_configuration"
SFTP_CHECK = "sftp_check"  # the rate limit of server checks (services/throttle.py)
SFTP = ConfigurationTarget.SFTP.value
DROPBOX = ConfigurationTarget.DROPBOX.value
OCTOPUS = ConfigurationTarget.OCTOPUS.value
OAUTH_TARGETS = (DROPBOX, OCTOPUS)
DEFAULT_SFTP_PORT = 22
NAME_MAX_LENGTH = 100
USERNAME_MAX_LENGTH = 100
PASSWORD_MAX_LENGTH = 500
HOST_MAX_LENGTH = 255
# A configuration's status: a value the pages compare (English), shown with ``t_choice``.
CONNECTED = i18n.N_("Connected")
NOT_FINISHED = i18n.N_("Not finished")
AGREE_TO_TERMS = i18n.N_("Agree to the terms of service to connect.")
NAME_TAKEN = i18n.N_("Another configuration of your environment has this name. Choose another one.")
ENTER_HOST = i18n.N_(
    "Enter the host name (e.g. sftp.example.com) or IP address of the SFTP server, without sftp://."
)
ENTER_PORT = i18n.N_("Enter a port number from 1 to 65535 (SFTP servers usually listen on 22).")
CHOOSE_DOSSIER = i18n.N_("Choose the Octopus dossier that receives the documents.")
PASSWORD_UNREADABLE = i18n.N_(
    "The stored password cannot be read any more (the server's secret key changed). Enter the password again."
)
ALREADY_CONNECTED = i18n.N_("This configuration is connected already. Use Modify to change it.")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")


@dataclass(frozen=True)
class ConfigurationRow:
    """One configuration as the list shows it (nothing secret)."""

    id: int
    name: str
    target: str
    target_label: str
    details: str
    exports: str
    exports_invoices: bool
    exports_statements: bool
    status: str
    created_at: datetime
    created_by: str
    clients: int
    sftp_host: str
    sftp_port: int
    sftp_username: str
    host_key_fingerprint: str
    account_name: str
    dossier_id: str
    dossier_name: str


@dataclass(frozen=True)
class TargetOption:
    """A target to choose under New configuration; ``note`` says why one cannot be chosen."""

    value: str
    label: str
    available: bool
    note: str


# --- what the export side uses ---------------------------------------------------------------------


def is_connected(configuration: AccountingConfiguration) -> bool:
    """Whether a configuration has what a delivery needs: credentials, and per target the pinned
    host key (SFTP) or the chosen dossier (Octopus)."""
    if not configuration.credentials_encrypted:
        return False
    if configuration.target == SFTP:
        return bool(configuration.sftp_host and configuration.sftp_host_key)
    if configuration.target == OCTOPUS:
        return bool(configuration.dossier_id)
    return configuration.target == DROPBOX


def is_usable(configuration: AccountingConfiguration) -> bool:
    """Not archived, terms of service accepted, connected."""
    return (
        configuration.archived_at is None
        and configuration.terms_accepted_at is not None
        and is_connected(configuration)
    )


def usable_configurations(session: Session, *, environment_id: int) -> list[AccountingConfiguration]:
    """The environment's configurations that can receive documents (not archived, terms accepted,
    connected), by name."""
    statement = (
        select(AccountingConfiguration)
        .where(
            AccountingConfiguration.environment_id == environment_id,
            col(AccountingConfiguration.archived_at).is_(None),
            col(AccountingConfiguration.terms_accepted_at).is_not(None),
        )
        .order_by(func.lower(AccountingConfiguration.name), col(AccountingConfiguration.id))
    )
    return [configuration for configuration in session.exec(statement) if is_connected(configuration)]


def get_configuration(
    session: Session, *, environment_id: int, configuration_id: int | str | None
) -> AccountingConfiguration:
    """One configuration of the environment (archived ones included); NotFound for an unknown id or
    another environment's configuration (the same answer: it reveals nothing)."""
    number = parse_id(configuration_id)
    configuration = session.get(AccountingConfiguration, number) if number is not None else None
    if configuration is None or configuration.environment_id != environment_id:
        raise NotFound(i18n.gettext(CONFIGURATION_NOT_FOUND))
    return configuration


# --- rules -------------------------------------------------------------------------------------------


def can_manage(user: User) -> bool:
    """Advanced users and Administrators manage configurations."""
    return user.role in MANAGER_ROLES


def require_manager(session: Session, actor: User) -> User:
    """The actor as stored now, if an active Advanced user or Administrator; PermissionDenied otherwise."""
    current = load_actor(session, actor)
    if not can_manage(current):
        raise PermissionDenied(i18n.gettext(MANAGE_DENIED))
    return current


def _current(session: Session, actor: User, configuration_id: int | str | None) -> AccountingConfiguration:
    """A configuration of the actor's environment that is not archived (NotFound otherwise)."""
    configuration = get_configuration(
        session, environment_id=actor.environment_id, configuration_id=configuration_id
    )
    if configuration.archived_at is not None:
        raise NotFound(i18n.gettext(CONFIGURATION_NOT_FOUND))
    return configuration


def target_label(target: str) -> str:
    """SFTP, Dropbox, Octopus."""
    return TARGET_LABELS.get(target, target)


def target_options() -> list[TargetOption]:
    """The targets New configuration offers; Dropbox and Octopus need their settings."""
    options = [TargetOption(value=SFTP, label="SFTP", available=True, note="")]
    for target in OAUTH_TARGETS:
        configured = cloud.provider_for(target) is not None
        options.append(
            TargetOption(
                value=target,
                label=target_label(target),
                available=configured,
                note="" if configured else cloud.not_configured_message(target),
            )
        )
    return options


def exports_text(configuration: AccountingConfiguration) -> str:
    """What it exports, in words."""
    if configuration.exports_invoices and configuration.exports_statements:
        return i18n.gettext("Invoices and bank statements")
    if configuration.exports_invoices:
        return i18n.gettext("Invoices")
    if configuration.exports_statements:
        return i18n.gettext("Bank statements")
    return i18n.gettext("Nothing (switch exports on under Modify)")


def _details(configuration: AccountingConfiguration) -> str:
    if configuration.target == SFTP:
        return i18n.gettext(
            "{username}@{host}, port {port}",
            username=configuration.sftp_username,
            host=configuration.sftp_host,
            port=configuration.sftp_port,
        )
    parts = []
    if configuration.account_name:
        parts.append(i18n.gettext("Account {account}", account=configuration.account_name))
    if configuration.target == OCTOPUS:
        dossier = configuration.dossier_name or configuration.dossier_id or i18n.gettext("(not chosen yet)")
        parts.append(i18n.gettext("Dossier {dossier}", dossier=dossier))
    return " · ".join(parts) or i18n.gettext("Signed in")


def _status(configuration: AccountingConfiguration) -> str:
    return CONNECTED if is_usable(configuration) else NOT_FINISHED


def _name_taken(session: Session, *, environment_id: int, name: str, except_id: int | None = None) -> bool:
    statement = select(AccountingConfiguration.id).where(
        AccountingConfiguration.environment_id == environment_id,
        col(AccountingConfiguration.archived_at).is_(None),
        func.lower(AccountingConfiguration.name) == name.lower(),
    )
    if except_id is not None:
        statement = statement.where(col(AccountingConfiguration.id) != except_id)
    return session.exec(statement).first() is not None


def _record(
    session: Session, *, actor: User, configuration: AccountingConfiguration, action: str, summary: str
) -> None:
    session.flush()  # the new configuration's id
    activity.record(
        session,
        environment_id=configuration.environment_id,
        actor=actor,
        action=action,
        summary=summary,
        subject_type=SUBJECT,
        subject_id=configuration.id,
    )


# --- reading -----------------------------------------------------------------------------------------


def list_configurations(session: Session, *, actor: User) -> list[ConfigurationRow]:
    """The environment's configurations that are not archived, by name."""
    actor = require_manager(session, actor)
    statement = (
        select(AccountingConfiguration, User)
        .join(User, col(User.id) == col(AccountingConfiguration.created_by_id), isouter=True)
        .where(
            AccountingConfiguration.environment_id == actor.environment_id,
            col(AccountingConfiguration.archived_at).is_(None),
        )
        .order_by(func.lower(AccountingConfiguration.name), col(AccountingConfiguration.id))
    )
    found = list(session.exec(statement))
    clients: dict[int, int] = dict(
        session.exec(  # type: ignore[arg-type]
            select(ExportSetting.configuration_id, func.count())
            .where(ExportSetting.environment_id == actor.environment_id)
            .where(col(ExportSetting.configuration_id).in_([configuration.id for configuration, _ in found]))
            .group_by(col(ExportSetting.configuration_id))
        ).all()
    )
    return [
        ConfigurationRow(
            id=configuration.id,  # type: ignore[arg-type]
            name=configuration.name,
            target=configuration.target,
            target_label=target_label(configuration.target),
            details=_details(configuration),
            exports=exports_text(configuration),
            exports_invoices=configuration.exports_invoices,
            exports_statements=configuration.exports_statements,
            status=_status(configuration),
            created_at=configuration.created_at,
            created_by=display_name(creator, missing="—"),
            clients=clients.get(configuration.id, 0),  # type: ignore[arg-type]
            sftp_host=configuration.sftp_host,
            sftp_port=configuration.sftp_port,
            sftp_username=configuration.sftp_username,
            host_key_fingerprint=sftp.fingerprint(configuration.sftp_host_key),
            account_name=configuration.account_name,
            dossier_id=configuration.dossier_id,
            dossier_name=configuration.dossier_name,
        )
        for configuration, creator in found
    ]


def dossiers(session: Session, *, actor: User, configuration_id: int | str | None) -> list[cloud.Dossier]:
    """The Octopus dossiers the configuration's signed-in account may deliver to (refreshing its
    tokens when they expired). DomainError with the provider's problem otherwise."""
    actor = require_manager(session, actor)
    configuration = _current(session, actor, configuration_id)
    if configuration.target != OCTOPUS:
        raise DomainError(i18n.gettext("Only Octopus configurations have dossiers."))
    try:
        return cloud.list_dossiers(session, configuration)
    except DeliveryError as error:
        raise DomainError(error.message) from None


# --- SFTP ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SftpInput:
    name: str
    username: str
    password: str
    host: str
    port: int


def _clean_host(value: str) -> str:
    host = without_nul(value or "").strip()
    if not host or len(host) > HOST_MAX_LENGTH:
        raise FieldError(i18n.gettext(ENTER_HOST))
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOST_NAME.match(host):
        raise FieldError(i18n.gettext(ENTER_HOST))
    return host.rstrip(".").lower()


def _clean_port(value: str | int | None) -> int:
    text = str(value if value is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or not 1 <= int(text) <= 65535:
        raise FieldError(i18n.gettext(ENTER_PORT))
    return int(text)


def _clean_username(value: str) -> str:
    username = without_nul(value or "").strip()
    if not username:
        raise FieldError(i18n.gettext("Enter the username of the SSH account."))
    if len(username) > USERNAME_MAX_LENGTH or any(character.isspace() for character in username):
        raise FieldError(
            i18n.gettext(
                "Enter the username without spaces (at most {max_length} characters).",
                max_length=USERNAME_MAX_LENGTH,
            )
        )
    return username


def _clean_password(value: str, *, required: bool) -> str:
    password = without_nul(value or "")
    if not password and required:
        raise FieldError(i18n.gettext("Enter the password of the SSH account."))
    if len(password) > PASSWORD_MAX_LENGTH:
        raise FieldError(i18n.gettext("Use at most {max_length} characters.", max_length=PASSWORD_MAX_LENGTH))
    return password


def _sftp_input(
    session: Session,
    *,
    actor: User,
    name: str,
    username: str,
    password: str,
    host: str,
    port: str | int | None,
    password_required: bool,
    terms_accepted: bool | None,
    except_id: int | None = None,
) -> _SftpInput:
    errors = FieldErrors()
    clean_name = errors.check("name", clean_optional, name, max_length=NAME_MAX_LENGTH) or ""
    clean_username = errors.check("username", _clean_username, username)
    clean_password = errors.check("password", _clean_password, password, required=password_required)
    clean_host = errors.check("host", _clean_host, host)
    clean_port = errors.check("port", _clean_port, port)
    if terms_accepted is False:
        errors.add("terms", i18n.gettext(AGREE_TO_TERMS))
    errors.raise_if_any()
    assert clean_username is not None and clean_host is not None and clean_port is not None
    if not clean_name:
        suffix = "" if clean_port == DEFAULT_SFTP_PORT else f":{clean_port}"
        clean_name = f"SFTP {clean_username}@{clean_host}{suffix}"[:NAME_MAX_LENGTH]
    if _name_taken(session, environment_id=actor.environment_id, name=clean_name, except_id=except_id):
        raise ValidationFailed({"name": i18n.gettext(NAME_TAKEN)})
    return _SftpInput(clean_name, clean_username, clean_password or "", clean_host, clean_port)


def _verify(target: sftp.SftpTarget) -> str:
    """The server's host key after a successful check; ValidationFailed with the problem next to
    the field it concerns (or for the form as a whole: ``connection``)."""
    try:
        return sftp.verify(target)
    except DeliveryError as error:
        raise ValidationFailed({error.field or "connection": error.message}) from None


def connect_sftp(
    session: Session,
    *,
    actor: User,
    username: str,
    password: str,
    host: str,
    port: str | int | None = DEFAULT_SFTP_PORT,
    terms_accepted: bool,
    name: str = "",
) -> AccountingConfiguration:
    """Verify an SFTP server (log in, write and remove a test file, record its host key) and save
    the configuration, password encrypted. Nothing is saved when anything fails."""
    actor = require_manager(session, actor)
    given = _sftp_input(
        session, actor=actor, name=name, username=username, password=password, host=host, port=port,
        password_required=True, terms_accepted=bool(terms_accepted),
    )  # fmt: skip
    throttle.check(SFTP_CHECK, environment_id=actor.environment_id)
    session.rollback()  # no transaction stays open while the server is contacted
    host_key = _verify(
        sftp.SftpTarget(host=given.host, port=given.port, username=given.username, password=given.password)
    )
    with committing(session):
        actor = require_manager(session, actor)
        if _name_taken(session, environment_id=actor.environment_id, name=given.name):
            raise ValidationFailed({"name": i18n.gettext(NAME_TAKEN)})
        now = utcnow()
        configuration = AccountingConfiguration(
            environment_id=actor.environment_id,
            name=given.name,
            target=SFTP,
            sftp_host=given.host,
            sftp_port=given.port,
            sftp_username=given.username,
            sftp_host_key=host_key,
            credentials_encrypted=credentials.seal({"password": given.password}),
            terms_accepted_at=now,
            created_by_id=actor.id,
            created_at=now,
            updated_at=now,
        )
        session.add(configuration)
        _record(
            session, actor=actor, configuration=configuration, action="configurations.created",
            summary=i18n.gettext(
                "{actor} connected the SFTP configuration \u201c{name}\u201d ({username}@{host}, port {port}; "
                "host key {fingerprint}).",
                actor=display_name(actor), name=given.name, username=given.username, host=given.host,
                port=given.port, fingerprint=sftp.fingerprint(host_key),
            ),
        )  # fmt: skip
    return configuration


def change_sftp_connection(
    session: Session,
    *,
    actor: User,
    configuration_id: int | str | None,
    username: str,
    password: str,
    host: str,
    port: str | int | None,
    trust_new_host_key: bool = False,
) -> AccountingConfiguration:
    """Modify an SFTP configuration's server, account or password (an empty password keeps the
    stored one), verified again before it is saved: against the recorded host key on the same
    host and port, unless ``trust_new_host_key`` (the server was reinstalled); a new host or port
    records the new server's key."""
    actor = require_manager(session, actor)
    configuration = _current(session, actor, configuration_id)
    if configuration.target != SFTP:
        raise DomainError(i18n.gettext("This is not an SFTP configuration."))
    given = _sftp_input(
        session, actor=actor, name=configuration.name, username=username, password=password, host=host,
        port=port, password_required=False, terms_accepted=None, except_id=configuration.id,
    )  # fmt: skip
    try:
        stored_password = str(credentials.unseal(configuration.credentials_encrypted).get("password", ""))
    except crypto.UnreadableText:
        stored_password = ""  # ECONNECT_SECRET_KEY changed: the password must be entered again
    if not given.password and not stored_password:
        raise ValidationFailed({"password": i18n.gettext(PASSWORD_UNREADABLE)})
    new_password = given.password or stored_password
    same_server = (given.host, given.port) == (configuration.sftp_host, configuration.sftp_port)
    pinned = configuration.sftp_host_key if same_server and not trust_new_host_key else ""
    previous_key = configuration.sftp_host_key
    configuration_id = configuration.id
    throttle.check(SFTP_CHECK, environment_id=actor.environment_id)
    session.rollback()
    host_key = _verify(
        sftp.SftpTarget(
            host=given.host, port=given.port, username=given.username, password=new_password, host_key=pinned
        )
    )
    with committing(session):
        actor = require_manager(session, actor)
        configuration = _current(session, actor, configuration_id)
        changes = []
        if (given.host, given.port) != (configuration.sftp_host, configuration.sftp_port):
            changes.append(i18n.gettext("server {host}, port {port}", host=given.host, port=given.port))
        if given.username != configuration.sftp_username:
            changes.append(i18n.gettext("username {username}", username=given.username))
        if given.password:
            changes.append(i18n.gettext("password"))
        if host_key != previous_key:
            changes.append(i18n.gettext("host key {fingerprint}", fingerprint=sftp.fingerprint(host_key)))
        configuration.sftp_host = given.host
        configuration.sftp_port = given.port
        configuration.sftp_username = given.username
        configuration.sftp_host_key = host_key
        if given.password:
            configuration.credentials_encrypted = credentials.seal({"password": given.password})
        configuration.updated_at = utcnow()
        session.add(configuration)
        what = ", ".join(changes) if changes else i18n.gettext("nothing changed")
        _record(
            session, actor=actor, configuration=configuration, action="configurations.connection_changed",
            summary=i18n.gettext(
                "{actor} checked the connection of \u201c{name}\u201d and saved it ({changes}).",
                actor=display_name(actor), name=configuration.name, changes=what,
            ),
        )  # fmt: skip
    return configuration


# --- Dropbox and Octopus --------------------------------------------------------------------------------


def connect_oauth(
    session: Session,
    *,
    actor: User,
    configuration_id: int | str | None,
    terms_accepted: bool,
    name: str = "",
    dossier_id: str = "",
) -> AccountingConfiguration:
    """Finish a Dropbox or Octopus configuration after its sign-in: its name, the Octopus dossier
    (one of the account's, read from Octopus) and the terms of service."""
    actor = require_manager(session, actor)
    configuration = _current(session, actor, configuration_id)
    if configuration.target not in OAUTH_TARGETS:
        raise DomainError(i18n.gettext("This configuration is not a Dropbox or Octopus configuration."))
    if configuration.terms_accepted_at is not None:
        raise DomainError(i18n.gettext(ALREADY_CONNECTED))
    errors = FieldErrors()
    clean_name = errors.check("name", clean_optional, name, max_length=NAME_MAX_LENGTH) or configuration.name
    if configuration.target == OCTOPUS and not str(dossier_id or "").strip():
        errors.add("dossier", i18n.gettext(CHOOSE_DOSSIER))
    if not terms_accepted:
        errors.add("terms", i18n.gettext(AGREE_TO_TERMS))
    errors.raise_if_any()
    if _name_taken(session, environment_id=actor.environment_id, name=clean_name, except_id=configuration.id):
        raise ValidationFailed({"name": i18n.gettext(NAME_TAKEN)})
    dossier = _chosen_dossier(session, configuration, dossier_id) if configuration.target == OCTOPUS else None
    configuration_id = configuration.id
    with committing(session):
        actor = require_manager(session, actor)
        configuration = _current(session, actor, configuration_id)
        if configuration.terms_accepted_at is not None:
            raise DomainError(i18n.gettext(ALREADY_CONNECTED))
        configuration.name = clean_name
        if dossier is not None:
            configuration.dossier_id, configuration.dossier_name = dossier.id, dossier.name
        configuration.terms_accepted_at = configuration.updated_at = utcnow()
        session.add(configuration)
        _record(
            session, actor=actor, configuration=configuration, action="configurations.created",
            summary=_oauth_connected_summary(actor, configuration, dossier),
        )  # fmt: skip
    return configuration


def _oauth_connected_summary(
    actor: User, configuration: AccountingConfiguration, dossier: cloud.Dossier | None
) -> str:
    """The activity of finishing a Dropbox or Octopus configuration (its account, its dossier)."""
    names = {
        "actor": display_name(actor),
        "target": target_label(configuration.target),
        "name": configuration.name,
        "account": configuration.account_name,
    }
    if not configuration.account_name:
        return i18n.gettext("{actor} connected the {target} configuration \u201c{name}\u201d.", **names)
    if dossier is None:
        return i18n.gettext(
            "{actor} connected the {target} configuration \u201c{name}\u201d (account {account}).", **names
        )
    return i18n.gettext(
        "{actor} connected the {target} configuration \u201c{name}\u201d (account {account}, dossier {dossier}).",
        dossier=dossier.name,
        **names,
    )


def _chosen_dossier(
    session: Session, configuration: AccountingConfiguration, dossier_id: str
) -> cloud.Dossier:
    """The dossier of that id among the account's (read from Octopus now)."""
    wanted = str(dossier_id or "").strip()
    try:
        available = cloud.list_dossiers(session, configuration)
    except DeliveryError as error:
        raise ValidationFailed({"dossier": error.message}) from None
    for dossier in available:
        if dossier.id == wanted:
            return dossier
    raise ValidationFailed({"dossier": i18n.gettext(CHOOSE_DOSSIER)})


# --- Modify and archive -----------------------------------------------------------------------------------


def update_configuration(
    session: Session,
    *,
    actor: User,
    configuration_id: int | str | None,
    name: str,
    exports_invoices: bool,
    exports_statements: bool,
    dossier_id: str | None = None,
) -> AccountingConfiguration:
    """Modify: the name, ``Invoices export for accounting`` / ``Bank statements export for
    accounting``, and (Octopus, when given) the dossier."""
    actor = require_manager(session, actor)
    configuration = _current(session, actor, configuration_id)
    errors = FieldErrors()
    clean_name = errors.check("name", clean_optional, name, max_length=NAME_MAX_LENGTH)
    if clean_name == "":
        errors.add("name", i18n.gettext("Enter a name for the configuration."))
    errors.raise_if_any()
    assert clean_name
    if _name_taken(session, environment_id=actor.environment_id, name=clean_name, except_id=configuration.id):
        raise ValidationFailed({"name": i18n.gettext(NAME_TAKEN)})
    dossier = None
    if configuration.target == OCTOPUS and dossier_id is not None and dossier_id != configuration.dossier_id:
        dossier = _chosen_dossier(session, configuration, dossier_id)
    configuration_id = configuration.id
    with committing(session):
        actor = require_manager(session, actor)
        configuration = _current(session, actor, configuration_id)
        changes = []
        if clean_name != configuration.name:
            changes.append(i18n.gettext("renamed it from \u201c{name}\u201d", name=configuration.name))
        if bool(exports_invoices) != configuration.exports_invoices:
            changes.append(
                i18n.gettext("invoices export on")
                if exports_invoices
                else i18n.gettext("invoices export off")
            )
        if bool(exports_statements) != configuration.exports_statements:
            changes.append(
                i18n.gettext("bank statements export on")
                if exports_statements
                else i18n.gettext("bank statements export off")
            )
        if dossier is not None:
            changes.append(i18n.gettext("dossier {dossier}", dossier=dossier.name))
            configuration.dossier_id, configuration.dossier_name = dossier.id, dossier.name
        if not changes:
            return configuration
        configuration.name = clean_name
        configuration.exports_invoices = bool(exports_invoices)
        configuration.exports_statements = bool(exports_statements)
        configuration.updated_at = utcnow()
        session.add(configuration)
        _record(
            session, actor=actor, configuration=configuration, action="configurations.modified",
            summary=i18n.gettext(
                "{actor} modified the configuration \u201c{name}\u201d: {changes}.",
                actor=display_name(actor), name=clean_name, changes=", ".join(changes),
            ),
        )  # fmt: skip
    return configuration


def clients_using(session: Session, *, configuration_id: int) -> int:
    """How many client organisations are assigned this configuration."""
    statement = (
        select(func.count())
        .select_from(ExportSetting)
        .where(ExportSetting.configuration_id == configuration_id)
    )
    return int(session.exec(statement).one())


def archive_configuration(
    session: Session, *, actor: User, configuration_id: int | str | None
) -> AccountingConfiguration:
    """Archive a configuration: it receives no documents any more (clients assigned to it stop
    exporting until another is chosen); kept, with its delivery log, as history."""
    with committing(session):
        actor = require_manager(session, actor)
        configuration = _current(session, actor, configuration_id)
        configuration.archived_at = configuration.updated_at = utcnow()
        session.add(configuration)
        used = clients_using(session, configuration_id=configuration.id)  # type: ignore[arg-type]
        _record(
            session, actor=actor, configuration=configuration, action="configurations.archived",
            summary=i18n.ngettext(
                "{actor} archived the configuration \u201c{name}\u201d ({count} client no longer export to it).",
                "{actor} archived the configuration \u201c{name}\u201d ({count} clients no longer export to it).",
                used, actor=display_name(actor), name=configuration.name,
            )
            if used
            else i18n.gettext(
                "{actor} archived the configuration \u201c{name}\u201d.",
                actor=display_name(actor), name=configuration.name,
            ),
        )  # fmt: skip
    return configuration
