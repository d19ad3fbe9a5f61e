"""SFTP targets: verifying a server when a configuration is connected, and uploading documents.

asyncssh is the SSH client. Authentication is by password only (no agent, no ~/.ssh keys or
config are consulted). The server's host key is recorded on first use (``verify`` without a
pinned key returns it, in OpenSSH format, to be stored in ``AccountingConfiguration.sftp_host_key``);
every later connection trusts that one key only, so a changed key (a reinstalled server, or
someone in between) refuses the connection until an accountant trusts the new key under Modify.

An upload writes to a hidden temporary name in the folder and renames it when complete, so the
accountant's software never picks up half a file. Both functions block (they run their own event
loop): call them in a worker thread.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import asyncssh

from econnect_app.exports import credentials
from econnect_app.exports.targets import DeliveryError
from econnect_app.models import AccountingConfiguration

# How long connecting and logging in may take, and a whole transfer (10 MB at a slow line).
CONNECT_TIMEOUT_SECONDS: float = 15
TRANSFER_TIMEOUT_SECONDS: float = 180
TEST_FILE_PREFIX = ".econnect-connection-test-"
TEST_FILE_CONTENT = b"eConnect checks that it may write here. This file is removed at once.\n"

T = TypeVar("T")


@dataclass(frozen=True)
class SftpTarget:
    """Where and as whom to connect; ``host_key`` is the pinned key ("" on first use)."""

    host: str
    port: int
    username: str
    password: str
    host_key: str = ""

    @property
    def address(self) -> str:
        """``host:port`` as messages name it."""
        return f"{self.host}:{self.port}"


def target_of(configuration: AccountingConfiguration) -> SftpTarget:
    """The SFTP target of a stored configuration (its password decrypted)."""
    password = str(credentials.unseal(configuration.credentials_encrypted).get("password", ""))
    return SftpTarget(
        host=configuration.sftp_host,
        port=configuration.sftp_port,
        username=configuration.sftp_username,
        password=password,
        host_key=configuration.sftp_host_key,
    )


def fingerprint(host_key: str) -> str:
    """The SHA-256 fingerprint of a stored host key (as ``ssh-keygen -l`` shows it), or ""."""
    if not host_key:
        return ""
    try:
        return asyncssh.import_public_key(host_key).get_fingerprint("sha256")
    except (asyncssh.KeyImportError, ValueError):
        return ""


# --- what the functions do ---------------------------------------------------------------------


def verify(target: SftpTarget) -> str:
    """Log in, write a test file and remove it; return the server's host key (OpenSSH format).

    With ``target.host_key`` the server must present that key. Raises DeliveryError (with the
    form field it concerns) otherwise.
    """
    return _run(lambda: _with_timeout(_verify(target), CONNECT_TIMEOUT_SECONDS * 2, target))


def upload(target: SftpTarget, *, folder: str, filename: str, data: bytes) -> str:
    """Put ``data`` at ``folder/filename`` (folders made as needed); return that path."""
    if not target.host_key:
        raise DeliveryError(
            "This SFTP configuration has no recorded host key. Modify it and connect again.", retryable=False
        )
    return _run(
        lambda: _with_timeout(_upload(target, folder, filename, data), TRANSFER_TIMEOUT_SECONDS, target)
    )


async def _verify(target: SftpTarget) -> str:
    async with await _connect(target) as connection:
        key = connection.get_server_host_key()
        host_key = key.export_public_key("openssh").decode("ascii").strip() if key is not None else ""
        async with await _sftp(connection, target) as client:
            name = TEST_FILE_PREFIX + secrets.token_hex(6)
            try:
                async with client.open(name, "wb") as handle:
                    await handle.write(TEST_FILE_CONTENT)
                await client.remove(name)
            except asyncssh.SFTPError as error:
                raise _sftp_problem(error, target, "write a test file") from None
    if not host_key:
        raise DeliveryError("The SFTP server did not present a host key.", retryable=False, field="host")
    return host_key


async def _upload(target: SftpTarget, folder: str, filename: str, data: bytes) -> str:
    final = f"{folder}/{filename}"
    partial = f"{folder}/.{filename}.{secrets.token_hex(4)}.part"
    async with await _connect(target) as connection, await _sftp(connection, target) as client:
        try:
            await client.makedirs(folder, exist_ok=True)
            async with client.open(partial, "wb") as handle:
                await handle.write(data)
            try:
                await client.posix_rename(partial, final)
            except asyncssh.SFTPOpUnsupported:
                await client.rename(partial, final)
            stored = await client.stat(final)
        except asyncssh.SFTPError as error:
            raise _sftp_problem(error, target, f"write {final}") from None
        if stored.size is not None and stored.size != len(data):
            raise DeliveryError(
                f"The SFTP server stored {stored.size} bytes of {final} instead of {len(data)}.",
                retryable=True,
            )
    return final


# --- connecting, and what each failure means -----------------------------------------------------


async def _connect(target: SftpTarget) -> asyncssh.SSHClientConnection:
    known_hosts: object = None  # first use: accept the key (the caller records it)
    if target.host_key:
        try:
            pinned = asyncssh.import_public_key(target.host_key)
        except (asyncssh.KeyImportError, ValueError):
            raise DeliveryError(
                "The recorded host key of this SFTP server cannot be read. Modify the configuration and "
                "connect again.",
                retryable=False,
            ) from None
        known_hosts = ([pinned], [], [])
    try:
        return await asyncssh.connect(
            target.host,
            target.port,
            username=target.username,
            password=target.password,
            known_hosts=known_hosts,  # type: ignore[arg-type]
            client_keys=None,
            agent_path=None,
            config=None,
            preferred_auth="password,keyboard-interactive",
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
    except asyncssh.HostKeyNotVerifiable:
        raise host_key_changed(target) from None
    except asyncssh.PermissionDenied:
        raise DeliveryError(
            f"The SFTP server at {target.address} refused the username or password.",
            retryable=False,
            field="password",
        ) from None
    except (asyncssh.ConnectionLost, asyncssh.ProtocolError, asyncssh.DisconnectError) as error:
        raise DeliveryError(
            f"The server at {target.address} ended the connection before logging in ({error.reason}). Check that "
            "it is an SFTP server and that the port is right.",
            retryable=True,
            field="port",
        ) from None
    except socket.gaierror:
        raise DeliveryError(
            f"The host {target.host} could not be found. Check the host name.", retryable=True, field="host"
        ) from None
    except ConnectionRefusedError:
        raise DeliveryError(
            f"Nothing accepts connections at {target.address}. Check the host and the port, and that the SFTP "
            "server is running.",
            retryable=True,
            field="port",
        ) from None
    except TimeoutError:
        raise _timed_out(target) from None
    except OSError as error:
        raise DeliveryError(
            f"The SFTP server at {target.address} cannot be reached ({error.strerror or error}).",
            retryable=True,
            field="host",
        ) from None


def host_key_changed(target: SftpTarget) -> DeliveryError:
    """The refusal when the server presents another host key than the recorded one."""
    return DeliveryError(
        f"The SFTP server's host key has changed since this configuration was connected ({target.address}). "
        "This happens when the server was reinstalled, but can also mean that someone is intercepting the "
        "connection, so nothing was sent. Check with the server's administrator, then Modify the "
        "configuration and trust the new host key.",
        retryable=False,
        field="host",
    )


async def _sftp(connection: asyncssh.SSHClientConnection, target: SftpTarget) -> asyncssh.SFTPClient:
    try:
        return await connection.start_sftp_client()
    except (asyncssh.ChannelOpenError, asyncssh.SFTPError) as error:
        raise DeliveryError(
            f"The server at {target.address} accepted the login but offers no SFTP ({error}).",
            retryable=False,
            field="host",
        ) from None


def _sftp_problem(error: asyncssh.SFTPError, target: SftpTarget, what: str) -> DeliveryError:
    if isinstance(error, asyncssh.SFTPPermissionDenied):
        return DeliveryError(
            f"The SFTP account {target.username} may not {what} on {target.address} ({error.reason}).",
            retryable=False,
            field="username",
        )
    return DeliveryError(
        f"The SFTP server at {target.address} could not {what} ({error.reason}).", retryable=True
    )


def _timed_out(target: SftpTarget) -> DeliveryError:
    return DeliveryError(
        f"The SFTP server at {target.address} did not answer in time. Check the host and the port; the server "
        "may be busy or behind a firewall.",
        retryable=True,
        field="host",
    )


async def _with_timeout(work: Awaitable[T], seconds: float, target: SftpTarget) -> T:
    """``work`` within ``seconds``; whatever else fails on the way (the connection dropped while
    writing, ...) is a DeliveryError too, worth another try later."""
    try:
        return await asyncio.wait_for(work, seconds)
    except DeliveryError:
        raise
    except TimeoutError:
        raise _timed_out(target) from None
    except (asyncssh.Error, OSError) as error:
        raise DeliveryError(
            f"The connection to the SFTP server at {target.address} failed ({error}).", retryable=True
        ) from None


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to its end from blocking code (on a helper thread when this thread already
    runs an event loop, which must not be blocked by a nested one)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(make))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sftp") as executor:
        return executor.submit(lambda: asyncio.run(_await(make))).result()


async def _await(make: Callable[[], Awaitable[T]]) -> T:
    return await make()
