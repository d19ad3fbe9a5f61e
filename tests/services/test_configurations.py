"""Accounting package configurations: who may manage them, what is checked before anything is
saved, credentials encrypted at rest, Modify and Archive, and the functions the export side uses
(usable_configurations, get_configuration).

The SFTP server check itself is tested against a real server in
tests/integration/test_sftp_target.py; here ``sftp.verify`` answers with a fixed host key, and
every test that must not reach it fails when it is called.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from conftest_factories import activities, count, make_admin, make_environment, make_user
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from econnect_app import crypto
from econnect_app.exports import credentials, sftp, targets
from econnect_app.exports.targets import DeliveryError
from econnect_app.models import (
    AccountingConfiguration,
    ActivityLog,
    Environment,
    Role,
    User,
    UserStatus,
    utcnow,
)
from econnect_app.services import configurations
from econnect_app.services.errors import (
    DomainError,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    ValidationFailed,
)
from econnect_app.settings import get_settings

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
PASSWORD = "a secret sftp passphrase 77"


@pytest.fixture()
def verified(monkeypatch: pytest.MonkeyPatch) -> list[sftp.SftpTarget]:
    """``sftp.verify`` accepts every server (and records what it was asked to check)."""
    checked: list[sftp.SftpTarget] = []

    def verify(target: sftp.SftpTarget) -> str:
        checked.append(target)
        return HOST_KEY

    monkeypatch.setattr(sftp, "verify", verify)
    return checked


@pytest.fixture()
def unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """``sftp.verify`` must not be called: the input is refused before any server is contacted."""

    def verify(target: sftp.SftpTarget) -> str:
        raise AssertionError(f"no server may be contacted for this input ({target.host})")

    monkeypatch.setattr(sftp, "verify", verify)


def database_dump(engine: Engine) -> str:
    lines: list[str] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            lines.extend(repr(tuple(row)) for row in connection.execute(table.select()))
    return "\n".join(lines)


def connect(session: Session, actor: User, **changes: object) -> AccountingConfiguration:
    values: dict[str, object] = dict(
        username="upload", password=PASSWORD, host="sftp.bakker.example", port="22", terms_accepted=True
    )
    values.update(changes)
    return configurations.connect_sftp(session, actor=actor, **values)  # type: ignore[arg-type]


def draft(
    session: Session, environment: Environment, *, target: str = "dropbox", **values: object
) -> AccountingConfiguration:
    """A configuration row as a sign-in leaves it (tokens stored, not finished)."""
    values.setdefault("name", f"{target.capitalize()} account")
    configuration = AccountingConfiguration(
        environment_id=environment.id,
        target=target,
        credentials_encrypted=credentials.seal({"access_token": "at", "refresh_token": "rt"}),
        **values,
    )
    session.add(configuration)
    session.commit()
    return configuration


# --- who may -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value])
def test_advanced_users_and_administrators_manage_configurations(
    session: Session, role: str, verified: list[sftp.SftpTarget]
) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, role=role)

    configuration = connect(session, user)

    [row] = configurations.list_configurations(session, actor=user)
    assert (row.id, row.name, row.target_label, row.status) == (
        configuration.id, "SFTP upload@sftp.bakker.example", "SFTP", "Connected",
    )  # fmt: skip
    assert row.details == "upload@sftp.bakker.example, port 22"
    assert row.exports == "Invoices"
    assert row.host_key_fingerprint.startswith("SHA256:")


def test_a_plain_user_is_refused_everything_in_the_service(session: Session, unreachable: None) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, role=Role.USER.value)
    existing = draft(session, environment, terms_accepted_at=utcnow())

    calls: list[Callable[[], object]] = [
        lambda: configurations.list_configurations(session, actor=user),
        lambda: connect(session, user),
        lambda: configurations.update_configuration(
            session,
            actor=user,
            configuration_id=existing.id,
            name="x",
            exports_invoices=True,
            exports_statements=True,
        ),
        lambda: configurations.archive_configuration(session, actor=user, configuration_id=existing.id),
        lambda: configurations.connect_oauth(
            session, actor=user, configuration_id=existing.id, terms_accepted=True
        ),
        lambda: configurations.dossiers(session, actor=user, configuration_id=existing.id),
    ]
    for call in calls:
        with pytest.raises(PermissionDenied) as refused:
            call()
        assert refused.value.message == configurations.MANAGE_DENIED
    assert count(session, AccountingConfiguration) == 1 and activities(session) == []


def test_a_role_taken_away_counts_at_once(session: Session, verified: list[sftp.SftpTarget]) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, role=Role.ADVANCED_USER.value)
    stale = User.model_validate(user.model_dump())  # what a page may still hold
    user.role = Role.USER.value
    session.add(user)
    session.commit()

    with pytest.raises(PermissionDenied):
        connect(session, stale)
    assert count(session, AccountingConfiguration) == 0


def test_a_blocked_user_is_refused(session: Session, unreachable: None) -> None:
    environment = make_environment(session)
    user = make_user(session, environment, role=Role.ADMINISTRATOR.value, status=UserStatus.BLOCKED.value)

    with pytest.raises(PermissionDenied):
        configurations.list_configurations(session, actor=user)


def test_another_environments_configuration_is_not_found_and_untouched(
    session: Session, verified: list[sftp.SftpTarget]
) -> None:
    ours = make_admin(session, make_environment(session, name="Ours"))
    theirs = make_admin(session, make_environment(session, name="Theirs"))
    their_configuration = connect(session, theirs)

    for call in [
        lambda: configurations.update_configuration(
            session, actor=ours, configuration_id=their_configuration.id, name="Mine now",
            exports_invoices=False, exports_statements=True,
        ),
        lambda: configurations.archive_configuration(session, actor=ours, configuration_id=their_configuration.id),
        lambda: configurations.change_sftp_connection(
            session, actor=ours, configuration_id=their_configuration.id, username="u", password="p",
            host="evil.example", port=22,
        ),
        lambda: configurations.get_configuration(
            session, environment_id=ours.environment_id, configuration_id=their_configuration.id
        ),
    ]:  # fmt: skip
        with pytest.raises(NotFound) as hidden:
            call()
        assert hidden.value.message == configurations.CONFIGURATION_NOT_FOUND
    assert configurations.list_configurations(session, actor=ours) == []
    session.expire_all()
    stored = session.get(AccountingConfiguration, their_configuration.id)
    assert (
        stored is not None and stored.name == "SFTP upload@sftp.bakker.example" and stored.archived_at is None
    )
    assert len(verified) == 1  # only their own Connect reached a server


@pytest.mark.parametrize("configuration_id", [0, -1, 2**31, "abc", "", None, "1 OR 1=1", 99])
def test_unknown_configuration_ids_are_not_found(session: Session, configuration_id: object) -> None:
    environment = make_environment(session)
    with pytest.raises(NotFound):
        configurations.get_configuration(
            session,
            environment_id=environment.id,
            configuration_id=configuration_id,  # type: ignore[arg-type]
        )


# --- bad input changes nothing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            dict(username="", password="", host="", port=""),
            {
                "username": "Enter the username of the SSH account.",
                "password": "Enter the password of the SSH account.",
                "host": configurations.ENTER_HOST,
                "port": configurations.ENTER_PORT,
            },
        ),
        (dict(host="sftp://files.example.com"), {"host": configurations.ENTER_HOST}),
        (dict(host="files example com"), {"host": configurations.ENTER_HOST}),
        (dict(host="-bad-.example"), {"host": configurations.ENTER_HOST}),
        (dict(port="0"), {"port": configurations.ENTER_PORT}),
        (dict(port="65536"), {"port": configurations.ENTER_PORT}),
        (dict(port="22a"), {"port": configurations.ENTER_PORT}),
        (dict(port="²"), {"port": configurations.ENTER_PORT}),
        (
            dict(username="two words"),
            {"username": "Enter the username without spaces (at most 100 characters)."},
        ),
        (dict(terms_accepted=False), {"terms": configurations.AGREE_TO_TERMS}),
        (dict(name="x" * 101), {"name": "Use at most 100 characters."}),
    ],
)
def test_bad_sftp_input_is_refused_before_any_server_is_contacted(
    session: Session, unreachable: None, changes: dict[str, object], errors: dict[str, str]
) -> None:
    admin = make_admin(session, make_environment(session))

    with pytest.raises(ValidationFailed) as refused:
        connect(session, admin, **changes)

    assert refused.value.errors == errors
    assert count(session, AccountingConfiguration) == 0 and activities(session) == []


@pytest.mark.parametrize(
    "host", ["192.0.2.10", "2001:db8::1", "files.example.com", "FILES.Example.COM.", "localhost"]
)
def test_host_names_and_ip_addresses_are_accepted(
    session: Session, verified: list[sftp.SftpTarget], host: str
) -> None:
    admin = make_admin(session, make_environment(session))

    configuration = connect(session, admin, host=host, port=" 2222 ")

    assert configuration.sftp_port == 2222
    assert (
        verified[0].host == configuration.sftp_host == (host.lower().rstrip(".") if ":" not in host else host)
    )


def test_a_server_problem_is_shown_next_to_its_field_and_nothing_is_saved(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(target: sftp.SftpTarget) -> str:
        raise DeliveryError(
            "The SFTP server at x refused the username or password.", retryable=False, field="password"
        )

    monkeypatch.setattr(sftp, "verify", refuse)
    admin = make_admin(session, make_environment(session))

    with pytest.raises(ValidationFailed) as refused:
        connect(session, admin)

    assert refused.value.errors == {"password": "The SFTP server at x refused the username or password."}
    assert count(session, AccountingConfiguration) == 0 and activities(session) == []


def test_names_are_unique_among_the_environments_current_configurations(
    session: Session, verified: list[sftp.SftpTarget]
) -> None:
    admin = make_admin(session, make_environment(session))
    first = connect(session, admin, name="Our SFTP server")

    with pytest.raises(ValidationFailed) as taken:
        connect(session, admin, name="our sftp SERVER")
    assert taken.value.errors == {"name": configurations.NAME_TAKEN}
    assert len(verified) == 1  # refused before the server was contacted

    configurations.archive_configuration(session, actor=admin, configuration_id=first.id)
    assert (
        connect(session, admin, name="Our SFTP server").name == "Our SFTP server"
    )  # archived ones free the name


# --- credentials at rest ----------------------------------------------------------------------------------


def test_the_password_is_stored_encrypted_and_appears_in_no_column(
    session: Session, engine: Engine, verified: list[sftp.SftpTarget]
) -> None:
    admin = make_admin(session, make_environment(session))

    configuration = connect(session, admin)

    assert verified[0].password == PASSWORD  # the server was checked with it
    dump = database_dump(engine)
    assert PASSWORD not in dump
    assert configuration.credentials_encrypted.startswith("fernet:")
    assert credentials.unseal(configuration.credentials_encrypted) == {"password": PASSWORD}
    rows = configurations.list_configurations(session, actor=admin)
    assert PASSWORD not in repr(rows) and "fernet:" not in repr(rows)


# --- Modify -------------------------------------------------------------------------------------------------


def test_modify_switches_the_exports_and_records_each_change(
    session: Session, verified: list[sftp.SftpTarget]
) -> None:
    admin = make_admin(session, make_environment(session))
    configuration = connect(session, admin)
    assert (configuration.exports_invoices, configuration.exports_statements) == (True, False)

    configurations.update_configuration(
        session, actor=admin, configuration_id=configuration.id, name="Bakker SFTP",
        exports_invoices=True, exports_statements=True,
    )  # fmt: skip
    configurations.update_configuration(
        session, actor=admin, configuration_id=configuration.id, name="Bakker SFTP",
        exports_invoices=False, exports_statements=True,
    )  # fmt: skip
    configurations.update_configuration(  # no change: no activity row
        session, actor=admin, configuration_id=configuration.id, name="Bakker SFTP",
        exports_invoices=False, exports_statements=True,
    )  # fmt: skip

    [row] = configurations.list_configurations(session, actor=admin)
    assert (row.name, row.exports) == ("Bakker SFTP", "Bank statements")
    summaries = [entry.summary for entry in activities(session, action="configurations.modified")]
    assert len(summaries) == 2
    assert "renamed it from \u201cSFTP upload@sftp.bakker.example\u201d" in summaries[0]
    assert "bank statements export on" in summaries[0]
    assert summaries[1].endswith("invoices export off.")


def test_modify_refuses_an_empty_or_taken_name(session: Session, verified: list[sftp.SftpTarget]) -> None:
    admin = make_admin(session, make_environment(session))
    connect(session, admin, name="First")
    second = connect(session, admin, name="Second")

    for name, message in [("", "Enter a name for the configuration."), ("FIRST", configurations.NAME_TAKEN)]:
        with pytest.raises(ValidationFailed) as refused:
            configurations.update_configuration(
                session,
                actor=admin,
                configuration_id=second.id,
                name=name,
                exports_invoices=True,
                exports_statements=True,
            )
        assert refused.value.errors == {"name": message}
    session.expire_all()
    stored = session.get(AccountingConfiguration, second.id)
    assert stored is not None and (stored.name, stored.exports_statements) == ("Second", False)


def test_modify_of_an_sftp_connection_refuses_bad_input_before_contacting_the_server(
    session: Session, monkeypatch: pytest.MonkeyPatch, verified: list[sftp.SftpTarget]
) -> None:
    admin = make_admin(session, make_environment(session))
    configuration = connect(session, admin)
    verified.clear()

    with pytest.raises(ValidationFailed) as refused:
        configurations.change_sftp_connection(
            session,
            actor=admin,
            configuration_id=configuration.id,
            username="",
            password="",
            host="x y",
            port="0",
        )
    assert set(refused.value.errors) == {"username", "host", "port"}
    assert verified == []

    # An empty password keeps the stored one; the check uses it.
    configurations.change_sftp_connection(
        session, actor=admin, configuration_id=configuration.id, username="upload2", password="",
        host="sftp.bakker.example", port=22,
    )  # fmt: skip
    assert (
        verified[0].password == PASSWORD and verified[0].host_key == HOST_KEY
    )  # the same server: pinned key


def test_an_oauth_configuration_cannot_be_changed_as_sftp(session: Session, unreachable: None) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    configuration = draft(session, environment, terms_accepted_at=utcnow())

    with pytest.raises(DomainError, match="not an SFTP configuration"):
        configurations.change_sftp_connection(
            session,
            actor=admin,
            configuration_id=configuration.id,
            username="u",
            password="p",
            host="h.example",
            port=22,
        )


# --- Archive, and what the export side sees ----------------------------------------------------------------


def test_usable_configurations_are_the_finished_current_ones_of_the_environment(
    session: Session, verified: list[sftp.SftpTarget]
) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    sftp_configuration = connect(session, admin, name="B SFTP")
    dropbox = draft(session, environment, name="A Dropbox", terms_accepted_at=utcnow())
    draft(session, environment, name="Unfinished Dropbox")  # signed in, terms not accepted
    draft(session, environment, target="octopus", name="Octopus without dossier", terms_accepted_at=utcnow())
    archived = draft(session, environment, name="Archived", terms_accepted_at=utcnow())
    configurations.archive_configuration(session, actor=admin, configuration_id=archived.id)
    other = make_admin(session, make_environment(session, name="Other firm"))
    connect(session, other, name="Theirs")

    usable = configurations.usable_configurations(session, environment_id=environment.id)

    assert [configuration.id for configuration in usable] == [dropbox.id, sftp_configuration.id]
    # get_configuration still finds an archived one (a delivery log names it), the list does not.
    assert (
        configurations.get_configuration(
            session, environment_id=environment.id, configuration_id=archived.id
        ).id
        == archived.id
    )
    listed = {row.name: row.status for row in configurations.list_configurations(session, actor=admin)}
    assert listed == {
        "A Dropbox": "Connected",
        "B SFTP": "Connected",
        "Octopus without dossier": "Not finished",
        "Unfinished Dropbox": "Not finished",
    }


def test_archiving_takes_a_configuration_out_of_use_and_is_recorded(
    session: Session, verified: list[sftp.SftpTarget]
) -> None:
    admin = make_admin(session, make_environment(session))
    configuration = connect(session, admin)

    configurations.archive_configuration(session, actor=admin, configuration_id=configuration.id)

    assert configurations.list_configurations(session, actor=admin) == []
    assert configurations.usable_configurations(session, environment_id=admin.environment_id) == []
    with pytest.raises(NotFound):  # gone for Modify and a second Archive
        configurations.archive_configuration(session, actor=admin, configuration_id=configuration.id)
    [entry] = activities(session, action="configurations.archived")
    assert entry.summary.endswith("archived the configuration \u201cSFTP upload@sftp.bakker.example\u201d.")
    assert count(session, AccountingConfiguration) == 1  # kept, as history


def test_finishing_an_oauth_configuration_needs_the_terms_and_happens_once(session: Session) -> None:
    environment = make_environment(session)
    admin = make_admin(session, environment)
    configuration = draft(session, environment)

    with pytest.raises(ValidationFailed) as refused:
        configurations.connect_oauth(
            session, actor=admin, configuration_id=configuration.id, terms_accepted=False
        )
    assert refused.value.errors == {"terms": configurations.AGREE_TO_TERMS}
    assert activities(session) == []

    configurations.connect_oauth(session, actor=admin, configuration_id=configuration.id, terms_accepted=True)
    with pytest.raises(DomainError, match="connected already"):
        configurations.connect_oauth(
            session, actor=admin, configuration_id=configuration.id, terms_accepted=True
        )
    assert [entry.action for entry in activities(session)] == ["configurations.created"]
    assert session.get(ActivityLog, activities(session)[0].id).subject_id == configuration.id  # type: ignore[union-attr]


def test_server_checks_are_rate_limited_so_connect_is_no_port_scanner(
    session: Session, verified: list[sftp.SftpTarget]
) -> None:
    admin = make_admin(session, make_environment(session))
    for number in range(30):
        connect(session, admin, name=f"Server {number}", host=f"sftp{number}.example.com")

    with pytest.raises(TooManyAttempts) as refused:
        connect(session, admin, name="One more", host="sftp-extra.example.com")

    assert refused.value.message.startswith("Too many SFTP servers were checked. Try again in")
    assert len(verified) == 30 and count(session, AccountingConfiguration) == 30


def test_after_a_secret_key_change_the_password_must_be_entered_again(
    session: Session, monkeypatch: pytest.MonkeyPatch, verified: list[sftp.SftpTarget]
) -> None:
    admin = make_admin(session, make_environment(session))
    configuration = connect(session, admin)
    other_key = dataclasses.replace(get_settings(), secret_key="another secret key for this test " * 2)
    monkeypatch.setattr(crypto, "get_settings", lambda: other_key)

    with pytest.raises(DeliveryError) as failed:
        targets.deliver(session, configuration, kind="invoice", filename="a.pdf", data=b"%PDF-1.7")
    assert failed.value.message == targets.UNREADABLE_CREDENTIALS and failed.value.retryable is False

    modify = dict(configuration_id=configuration.id, username="upload", host="sftp.bakker.example", port=22)
    with pytest.raises(ValidationFailed) as refused:
        configurations.change_sftp_connection(session, actor=admin, password="", **modify)  # type: ignore[arg-type]
    assert refused.value.errors == {"password": configurations.PASSWORD_UNREADABLE}

    configurations.change_sftp_connection(session, actor=admin, password=PASSWORD, **modify)  # type: ignore[arg-type]
    session.expire_all()
    stored = session.get(AccountingConfiguration, configuration.id)
    assert stored is not None and credentials.unseal(stored.credentials_encrypted) == {"password": PASSWORD}
