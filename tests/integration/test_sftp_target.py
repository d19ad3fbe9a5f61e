"""SFTP configurations against a real SFTP server on 127.0.0.1 started by the test (asyncssh's
server with its SFTP subsystem, tests/support/sftp_server.py): Connect verifies the server before
saving, documents arrive byte for byte, and a wrong password, a closed port, a changed host key and
a server that does not answer each give their own clear message and save or send nothing."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, func, select

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
from econnect_app.services.errors import ValidationFailed
from tests.support.sftp_server import SftpTestServer, running_sftp_server

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4096 + b"\n%%EOF\n"  # about 1 MB, every byte value


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[SftpTestServer]:
    with running_sftp_server(tmp_path / "sftp-root") as running:
        yield running


@pytest.fixture()
def admin(session: Session) -> User:
    environment = Environment(name="Bakker Administratie")
    session.add(environment)
    session.commit()
    user = User(
        environment_id=environment.id,
        email="admin@bakker.example",
        name="Bea Bakker",
        role=Role.ADMINISTRATOR.value,
        status=UserStatus.ACTIVE.value,
        password_hash="x",
        email_confirmed_at=utcnow(),
    )
    session.add(user)
    session.commit()
    return user


def connect(
    session: Session, admin: User, server: SftpTestServer, **changes: object
) -> AccountingConfiguration:
    values: dict[str, object] = dict(
        username=server.username, password=server.password, host=server.host, port=str(server.port),
        terms_accepted=True,
    )  # fmt: skip
    values.update(changes)
    return configurations.connect_sftp(session, actor=admin, **values)  # type: ignore[arg-type]


def configuration_count(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(AccountingConfiguration)).one())


def database_dump(engine: Engine) -> str:
    lines: list[str] = []
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            lines.extend(repr(tuple(row)) for row in connection.execute(table.select()))
    return "\n".join(lines)


# --- Connect ----------------------------------------------------------------------------------------


def test_connect_logs_in_writes_and_removes_a_test_file_and_records_the_host_key(
    session: Session, engine: Engine, admin: User, server: SftpTestServer
) -> None:
    configuration = connect(session, admin, server)

    assert server.logins == [(server.username, True)]
    assert server.files() == []  # the test file was written and removed
    session.expire_all()
    stored = session.get(AccountingConfiguration, configuration.id)
    assert stored is not None
    assert stored.name == f"SFTP {server.username}@127.0.0.1:{server.port}"
    assert (stored.sftp_host, stored.sftp_port, stored.sftp_username) == (
        "127.0.0.1",
        server.port,
        server.username,
    )
    assert stored.sftp_host_key == server.host_key  # recorded on first use, OpenSSH format
    assert stored.terms_accepted_at is not None
    assert credentials.unseal(stored.credentials_encrypted) == {"password": server.password}
    assert server.password not in database_dump(engine)  # encrypted at rest
    assert configurations.usable_configurations(session, environment_id=admin.environment_id) == [stored]
    [entry] = session.exec(select(ActivityLog)).all()
    assert entry.action == "configurations.created" and sftp.fingerprint(server.host_key) in entry.summary


def test_a_wrong_password_is_refused_next_to_the_password_and_nothing_is_saved(
    session: Session, admin: User, server: SftpTestServer
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        connect(session, admin, server, password="not the password")

    assert refused.value.errors == {
        "password": f"The SFTP server at 127.0.0.1:{server.port} refused the username or password."
    }
    assert configuration_count(session) == 0
    assert session.exec(select(func.count()).select_from(ActivityLog)).one() == 0


def test_a_closed_port_is_refused_next_to_the_port_and_nothing_is_saved(
    session: Session, admin: User, server: SftpTestServer
) -> None:
    server.close()

    with pytest.raises(ValidationFailed) as refused:
        connect(session, admin, server)

    assert refused.value.errors == {
        "port": f"Nothing accepts connections at 127.0.0.1:{server.port}. Check the host and the port, and that "
        "the SFTP server is running."
    }
    assert configuration_count(session) == 0


def test_a_server_that_does_not_answer_times_out_with_a_clear_message(
    session: Session, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sftp, "CONNECT_TIMEOUT_SECONDS", 0.5)
    with socket.socket() as silent:  # accepts TCP connections (the backlog) but never speaks SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        with pytest.raises(ValidationFailed) as refused:
            configurations.connect_sftp(
                session,
                actor=admin,
                username="u",
                password="p",
                host="127.0.0.1",
                port=port,
                terms_accepted=True,
            )

    assert refused.value.errors == {
        "host": f"The SFTP server at 127.0.0.1:{port} did not answer in time. Check the host and the port; the "
        "server may be busy or behind a firewall."
    }
    assert configuration_count(session) == 0


# --- delivery ---------------------------------------------------------------------------------------


def test_a_document_arrives_byte_for_byte_in_its_folder(
    session: Session, admin: User, server: SftpTestServer
) -> None:
    configuration = connect(session, admin, server)

    path = targets.deliver(
        session, configuration, kind="invoice", filename="2026-12-02_41_invoice.pdf", data=PDF
    )
    statement = targets.deliver(
        session, configuration, kind="statement", filename="2026-12-02_42_bank.xml", data=b"<x/>"
    )

    assert path == "invoices/2026-12-02_41_invoice.pdf"
    assert statement == "statements/2026-12-02_42_bank.xml"
    assert hashlib.sha256(server.read(path)).hexdigest() == hashlib.sha256(PDF).hexdigest()
    assert server.read(statement) == b"<x/>"
    assert server.files() == [path, statement]  # no temporary file left behind


def test_a_changed_password_on_the_server_fails_the_delivery_for_good(
    session: Session, admin: User, server: SftpTestServer
) -> None:
    configuration = connect(session, admin, server)
    server.password = "changed by the server's administrator"

    with pytest.raises(DeliveryError) as failed:
        targets.deliver(session, configuration, kind="invoice", filename="a.pdf", data=PDF)

    assert failed.value.retryable is False
    assert (
        failed.value.message
        == f"The SFTP server at 127.0.0.1:{server.port} refused the username or password."
    )
    assert server.files() == []


def test_a_closed_port_fails_the_delivery_for_now_and_it_works_once_the_server_is_back(
    session: Session, admin: User, server: SftpTestServer
) -> None:
    configuration = connect(session, admin, server)
    server.close()

    with pytest.raises(DeliveryError) as failed:
        targets.deliver(session, configuration, kind="invoice", filename="a.pdf", data=PDF)

    assert failed.value.retryable is True
    assert failed.value.message.startswith(f"Nothing accepts connections at 127.0.0.1:{server.port}.")
    server.reopen()
    assert (
        targets.deliver(session, configuration, kind="invoice", filename="a.pdf", data=PDF)
        == "invoices/a.pdf"
    )
    assert server.read("invoices/a.pdf") == PDF


def test_a_changed_host_key_refuses_the_delivery_until_the_new_key_is_trusted(
    session: Session, admin: User, server: SftpTestServer
) -> None:
    configuration = connect(session, admin, server)
    first_key = server.host_key
    server.change_host_key()

    with pytest.raises(DeliveryError) as failed:
        targets.deliver(session, configuration, kind="invoice", filename="a.pdf", data=PDF)

    assert failed.value.retryable is False
    assert failed.value.message.startswith(
        "The SFTP server's host key has changed since this configuration was connected"
    )
    assert "nothing was sent" in failed.value.message
    assert server.files() == [] and all(
        accepted is True for _, accepted in server.logins
    )  # no password was sent
    assert len(server.logins) == 1

    # Modify with the same server checks against the recorded key: still refused, nothing changes.
    with pytest.raises(ValidationFailed) as refused:
        configurations.change_sftp_connection(
            session, actor=admin, configuration_id=configuration.id, username=server.username, password="",
            host=server.host, port=server.port,
        )  # fmt: skip
    assert refused.value.errors["host"].startswith("The SFTP server's host key has changed")
    session.expire_all()
    assert session.get(AccountingConfiguration, configuration.id).sftp_host_key == first_key  # type: ignore[union-attr]

    # The accountant checked with the server's administrator and trusts the new key.
    configurations.change_sftp_connection(
        session, actor=admin, configuration_id=configuration.id, username=server.username, password="",
        host=server.host, port=server.port, trust_new_host_key=True,
    )  # fmt: skip
    session.expire_all()
    stored = session.get(AccountingConfiguration, configuration.id)
    assert stored is not None and stored.sftp_host_key == server.host_key != first_key
    assert credentials.unseal(stored.credentials_encrypted) == {"password": server.password}  # kept
    assert targets.deliver(session, stored, kind="invoice", filename="a.pdf", data=PDF) == "invoices/a.pdf"
    actions = session.exec(select(ActivityLog.action).order_by(ActivityLog.id)).all()
    assert actions == ["configurations.created", "configurations.connection_changed"]


def test_modify_verifies_a_new_password_before_saving_it(
    session: Session, engine: Engine, admin: User, server: SftpTestServer
) -> None:
    configuration = connect(session, admin, server)
    server.password = "the new password of the account"

    with pytest.raises(ValidationFailed) as refused:
        configurations.change_sftp_connection(
            session, actor=admin, configuration_id=configuration.id, username=server.username,
            password="a mistyped new password", host=server.host, port=server.port,
        )  # fmt: skip
    assert "refused the username or password" in refused.value.errors["password"]
    session.expire_all()
    assert credentials.unseal(
        session.get(AccountingConfiguration, configuration.id).credentials_encrypted
    ) == {  # type: ignore[union-attr]
        "password": "sftp test password 9"
    }

    configurations.change_sftp_connection(
        session, actor=admin, configuration_id=configuration.id, username=server.username,
        password=server.password, host=server.host, port=server.port,
    )  # fmt: skip
    session.expire_all()
    stored = session.get(AccountingConfiguration, configuration.id)
    assert stored is not None and credentials.unseal(stored.credentials_encrypted) == {
        "password": server.password
    }
    assert server.password not in database_dump(engine)
    assert targets.deliver(session, stored, kind="invoice", filename="b.pdf", data=PDF) == "invoices/b.pdf"


def test_moving_to_another_server_records_that_servers_key(
    session: Session, admin: User, server: SftpTestServer, tmp_path: Path
) -> None:
    configuration = connect(session, admin, server)
    with running_sftp_server(tmp_path / "other-root", password="other password 12") as other:
        configurations.change_sftp_connection(
            session, actor=admin, configuration_id=configuration.id, username=other.username,
            password=other.password, host=other.host, port=other.port,
        )  # fmt: skip
        session.expire_all()
        stored = session.get(AccountingConfiguration, configuration.id)
        assert stored is not None and (stored.sftp_port, stored.sftp_host_key) == (other.port, other.host_key)
        targets.deliver(session, stored, kind="invoice", filename="c.pdf", data=PDF)
        assert other.read("invoices/c.pdf") == PDF
    assert server.files() == []
