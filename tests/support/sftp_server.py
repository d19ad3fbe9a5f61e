"""A real SFTP server on 127.0.0.1 for tests: asyncssh's SSH server with its SFTP subsystem.

One user logs in with a password; files live in a temporary folder (the SFTP root, chrooted);
the host key is generated at start. The server runs its own event loop in a thread, so tests (and
the app, in the end-to-end tests) talk to it over real TCP like to any SFTP server:

    with running_sftp_server(tmp_path / "sftp") as server:
        ... connect to server.host:server.port as server.username / server.password ...
        server.read("invoices/x.pdf")            # the bytes that arrived
        server.change_host_key()                 # restart on the same port with a new key
        server.close()                           # stop listening: the port refuses connections
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh

LOOPBACK = "127.0.0.1"
USERNAME = "accountant"
PASSWORD = "sftp test password 9"
CONTROL_TIMEOUT = 30  # s: starting or stopping the listener


class _PasswordServer(asyncssh.SSHServer):
    """Password authentication for the one user."""

    def __init__(self, owner: SftpTestServer) -> None:
        self._owner = owner

    def begin_auth(self, username: str) -> bool:
        return True  # every user must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        accepted = username == self._owner.username and password == self._owner.password
        with self._owner._lock:
            self._owner.logins.append((username, accepted))
        return accepted


class SftpTestServer:
    """The server; ``start()`` it (or use ``running_sftp_server``)."""

    def __init__(self, root: Path, *, username: str = USERNAME, password: str = PASSWORD) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.username = username
        self.password = password
        self.host = LOOPBACK
        self.port = 0
        self.logins: list[tuple[str, bool]] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-test-server", daemon=True)
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._private_key: asyncssh.SSHKey = asyncssh.generate_private_key("ssh-ed25519")

    # --- control ----------------------------------------------------------------------------------

    def start(self) -> SftpTestServer:
        """Listen on a free port of 127.0.0.1 (returns once it accepts connections)."""
        self._thread.start()
        self._call(self._listen())
        return self

    @property
    def host_key(self) -> str:
        """The current host key, public part, OpenSSH format (what a client records)."""
        return self._private_key.export_public_key("openssh").decode("ascii").strip()

    @property
    def listening(self) -> bool:
        """Whether the server accepts connections."""
        return self._acceptor is not None

    def change_host_key(self) -> str:
        """Restart on the same port with a newly generated host key; returns the new public key."""
        self._private_key = asyncssh.generate_private_key("ssh-ed25519")
        self._call(self._restart())
        return self.host_key

    def close(self) -> None:
        """Stop listening (connections to the port are refused); ``reopen()`` starts again."""
        self._call(self._stop_listening())

    def reopen(self) -> None:
        """Listen again on the same port (same host key)."""
        self._call(self._listen())

    def stop(self) -> None:
        """Close the listener and end the server's thread."""
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._stop_listening())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CONTROL_TIMEOUT)
        self._loop.close()

    # --- what arrived ----------------------------------------------------------------------------

    def path(self, relative: str) -> Path:
        """Where a file the client wrote as ``relative`` is on disk."""
        return self.root / relative

    def read(self, relative: str) -> bytes:
        """The bytes of a file the client wrote."""
        return self.path(relative).read_bytes()

    def files(self) -> list[str]:
        """Every file under the root, as the client names them (sorted)."""
        return sorted(str(path.relative_to(self.root)) for path in self.root.rglob("*") if path.is_file())

    # --- inside the server's loop ----------------------------------------------------------------

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(CONTROL_TIMEOUT)

    async def _listen(self) -> None:
        root = str(self.root).encode()
        self._acceptor = await asyncssh.listen(
            self.host,
            self.port,
            server_factory=lambda: _PasswordServer(self),
            server_host_keys=[self._private_key],
            sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=root),
            allow_scp=False,
            reuse_address=True,
            config=None,
        )
        self.port = self._acceptor.get_port()

    async def _stop_listening(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None

    async def _restart(self) -> None:
        await self._stop_listening()
        await self._listen()


@contextlib.contextmanager
def running_sftp_server(root: Path, **options: Any) -> Iterator[SftpTestServer]:
    """A started server, stopped at the end of the block."""
    server = SftpTestServer(root, **options).start()
    try:
        yield server
    finally:
        server.stop()
