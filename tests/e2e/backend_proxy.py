"""One loopback address in front of several backend processes, for the scale-out tests.

    proxy = BackendProxy({"a": 40001, "b": 40002}).start()   # listens on 127.0.0.1:<free port>
    context = browser.new_context(user_agent=proxy.user_agent("b"))   # everything of it goes to b
    ...
    proxy.websockets(backend="b")   # which websocket went where, when it opened and closed
    proxy.stop()

Each incoming TCP connection is routed as a whole, by its first HTTP request: a User-Agent with
the marker ``econnect-backend/<name>`` goes to that backend (and waits for it while it is down, as
a sticky load balancer does: the browser retries); anything else goes round-robin to a backend
that accepts the connection. Then bytes are copied both ways untouched, so HTTP keep-alive and
websockets work as they would without the proxy. Only ever listens on and connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

HOST = "127.0.0.1"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome Safari/537.36"
)
_MARKER = re.compile(r"econnect-backend/([A-Za-z0-9_-]+)")
_HEAD_LIMIT = 64 * 1024
_HEAD_TIMEOUT = 30.0
_CONNECT_TIMEOUT = 5.0
_BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass
class ConnectionRecord:
    """One client connection the proxy passed on."""

    backend: str  # where it went ("" when no backend took it)
    method: str
    path: str
    user_agent: str
    websocket: bool  # an Upgrade: websocket request
    opened_at: float  # time.monotonic()
    closed_at: float | None = None
    wanted: str | None = None  # the backend the User-Agent asked for, if any
    refused: list[str] = field(default_factory=list)  # backends that did not accept it

    @property
    def open(self) -> bool:
        """Whether the connection is still open."""
        return self.closed_at is None


class BackendProxy:
    """A TCP proxy on 127.0.0.1 for HTTP and websocket traffic, run in its own thread."""

    def __init__(self, backends: Mapping[str, int], *, port: int = 0) -> None:
        if not backends:
            raise ValueError("at least one backend")
        self.backends = dict(backends)  # name -> port on 127.0.0.1
        self._requested_port = port
        self.port = 0
        self._records: list[ConnectionRecord] = []
        self._changed = threading.Condition()  # guards the records; notified on every change
        self._round_robin = itertools.cycle(sorted(self.backends))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the test's side ---------------------------------------------------------------------

    @staticmethod
    def user_agent(backend: str) -> str:
        """A browser User-Agent whose connections the proxy sends to `backend`."""
        return f"{USER_AGENT} econnect-backend/{backend}"

    @property
    def url(self) -> str:
        """The proxy's address, e.g. http://127.0.0.1:41234."""
        return f"http://{HOST}:{self.port}"

    @property
    def records(self) -> list[ConnectionRecord]:
        """Every connection so far, oldest first (copies of the live records' state)."""
        with self._changed:
            return self._copies()

    def _copies(self) -> list[ConnectionRecord]:
        return [
            ConnectionRecord(**{**vars(record), "refused": list(record.refused)}) for record in self._records
        ]

    def websockets(self, *, backend: str | None = None, wanted: str | None = None) -> list[ConnectionRecord]:
        """The websocket connections, optionally only those that went to / asked for a backend."""
        return [
            record
            for record in self.records
            if record.websocket
            and (backend is None or record.backend == backend)
            and (wanted is None or record.wanted == wanted)
        ]

    def wait_for(
        self, predicate: Callable[[list[ConnectionRecord]], bool], timeout: float = 30.0, what: str = "it"
    ) -> list[ConnectionRecord]:
        """Wait until `predicate(records)` holds (checked on every connection opened or closed);
        returns the records. AssertionError after `timeout` seconds."""
        with self._changed:
            if self._changed.wait_for(lambda: predicate(self._copies()), timeout):
                return self._copies()
            summary = [(r.backend, r.method, r.path[:40], r.websocket, r.open) for r in self._records[-20:]]
        raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}; last connections: {summary}")

    # --- running -----------------------------------------------------------------------------

    def start(self) -> BackendProxy:
        """Listen on 127.0.0.1 (a free port unless one was given); returns self once listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, HOST, self._requested_port, limit=_HEAD_LIMIT)
                )
                self.port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as error:  # noqa: BLE001 (reported to the starting thread)
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="e2e-backend-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection; stop the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        with contextlib.suppress(RuntimeError):
            asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(10)
        self._loop = self._thread = None

    # --- the proxy itself ----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        record: ConnectionRecord | None = None
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                return
            record = _describe(head)
            connected = await self._connect(record)
            with self._changed:
                self._records.append(record)
                self._changed.notify_all()
            if connected is None:
                writer.write(_BAD_GATEWAY)
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
                return
            upstream_reader, upstream = connected
            upstream.write(head)
            await asyncio.gather(
                _pipe(reader, upstream), _pipe(upstream_reader, writer), return_exceptions=True
            )
        except asyncio.CancelledError:
            pass
        finally:
            for stream in (writer, upstream):
                if stream is not None:
                    stream.close()
            if record is not None:
                with self._changed:
                    record.closed_at = time.monotonic()
                    self._changed.notify_all()
            self._tasks.discard(task)

    async def _connect(
        self, record: ConnectionRecord
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Open the connection to the chosen backend; a marked client gets only its own."""
        if record.wanted is not None:
            candidates = [record.wanted] if record.wanted in self.backends else []
        else:
            first = next(self._round_robin)
            names = sorted(self.backends)
            start = names.index(first)
            candidates = names[start:] + names[:start]
        for name in candidates:
            try:
                connected = await asyncio.wait_for(
                    asyncio.open_connection(HOST, self.backends[name]), _CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                record.refused.append(name)
                continue
            record.backend = name
            return connected
        return None


def _describe(head: bytes) -> ConnectionRecord:
    """The record of a connection from its first request's head."""
    lines = head.decode("latin-1").split("\r\n")
    method, path = (lines[0].split(" ") + ["", ""])[:2]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    user_agent = headers.get("user-agent", "")
    marker = _MARKER.search(user_agent)
    return ConnectionRecord(
        backend="",
        method=method,
        path=path,
        user_agent=user_agent,
        websocket=headers.get("upgrade", "").lower() == "websocket",
        opened_at=time.monotonic(),
        wanted=marker.group(1) if marker else None,
    )


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    """Copy until end of file, then pass the end of file on (half-close)."""
    try:
        while chunk := await source.read(64 * 1024):
            target.write(chunk)
            await target.drain()
        if target.can_write_eof():
            target.write_eof()
    except (ConnectionError, OSError):
        target.close()
