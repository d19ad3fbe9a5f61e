"""A browser tab without a browser: Reflex's websocket protocol spoken with python-socketio.

What the compiled frontend (``.web/utils/state.js``, ``utils/context.jsx``) does, and this does:

- It connects Socket.IO (Engine.IO 4, websocket transport) to ``<backend>/_event`` with the path
  ``/_event`` and the namespace ``/_event``, the tab's token (a UUID kept in sessionStorage) in the
  query string: ``?token=<uuid>``.
- The CONNECT packet carries the boot event in its auth payload: ``{"event": {"name":
  "reflex___state____state.hydrate_and_load", "payload": {"vars": {<cookie var>: <value>}},
  "router_data": {"pathname": ..., "asPath": ...}}}``. ``vars`` holds the browser's cookies by the
  full name of the state var (here the session cookie ``AuthState.session_cookie``): that is how a
  login reaches the server.
- The server answers with ``event`` messages ``{"delta": {<state full name>: {<var>_rx_state_:
  value}}, "events": [...], "final": bool}``. The server runs the handlers an event chains to
  itself (the on_load chain: ``on_load_internal``, then the page's on_load handlers); ``events``
  carries frontend actions (``_redirect``, ``_call_function``, toasts), which are noted, not
  followed. Should an app handler's name come in ``events``, it is sent back with the page's router
  data, as the browser's event queue does.
- A user's action is an ``event`` message ``{"name": "<state full name>.<handler>", "payload":
  {...}, "router_data": {...}}``.

``Tab`` keeps the merged state it was sent and lets a caller wait, with a deadline, until it holds
something (``wait_for``), noting when each update arrived.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import socketio

NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"
HYDRATE_EVENT = f"{ROOT_STATE}.hydrate_and_load"
VAR_SUFFIX = "_rx_state_"
ANSWER_SECONDS = 60.0


def state_name(state: type) -> str:
    """A state class's full name as it travels over the websocket."""
    return state.get_full_name()  # type: ignore[attr-defined]


def handler_name(state: type, handler: str) -> str:
    """``<state full name>.<handler>``."""
    return f"{state_name(state)}.{handler}"


def var_key(state: type, var: str) -> str:
    """A var's key in client storage: ``<state full name>.<var>_rx_state_``."""
    return f"{state_name(state)}.{var}{VAR_SUFFIX}"


class ProtocolError(RuntimeError):
    """The backend did not answer as a browser expects."""


Check = Callable[[dict[str, dict[str, Any]]], bool]


class Tab:
    """One tab: its socket, the page it shows, the state it was sent."""

    def __init__(self, backend_url: str, *, path: str, cookies: dict[str, str] | None = None) -> None:
        self.backend_url = backend_url
        self.path = path
        self.cookies = dict(cookies or {})
        self.token = str(uuid.uuid4())
        self.state: dict[str, dict[str, Any]] = {}
        self.updates = 0
        self.errors: list[str] = []
        self._waiting: list[tuple[Check, asyncio.Future[float]]] = []
        self.listeners: list[Callable[[dict[str, Any]], None]] = []  # called with every raw update
        self._sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self._sio.on("event", self._on_update, namespace=NAMESPACE)

    # --- connecting -----------------------------------------------------------------------------

    async def open(self, *, timeout: float = ANSWER_SECONDS) -> None:
        """Connect and hydrate the page (its on_load handlers then run as the browser's do)."""
        boot = {"name": HYDRATE_EVENT, "payload": {"vars": self.cookies} if self.cookies else {}}
        await self._sio.connect(
            f"{self.backend_url}?token={self.token}",
            transports=["websocket"],
            namespaces=[NAMESPACE],
            socketio_path="/_event",
            auth={"event": {**boot, "router_data": self.router_data()}},
            wait_timeout=timeout,
        )

    async def close(self) -> None:
        await self._sio.disconnect()

    def router_data(self) -> dict[str, Any]:
        return {"pathname": self.path, "asPath": self.path}

    # --- sending and receiving ------------------------------------------------------------------

    async def send(self, name: str, payload: dict[str, Any] | None = None) -> float:
        """Send an event from the page; returns when it was sent (``time.perf_counter()``)."""
        event = {"name": name, "payload": payload or {}, "router_data": self.router_data()}
        sent = time.perf_counter()
        await self._sio.emit("event", event, namespace=NAMESPACE)
        return sent

    def get(self, state: type, var: str, default: Any = None) -> Any:
        """A var as this tab last received it."""
        return self.state.get(state_name(state), {}).get(var + VAR_SUFFIX, default)

    def expect(self, check: Check) -> asyncio.Future[float]:
        """A future that receives the arrival time (``time.perf_counter()``) of the first update
        after which ``check(state)`` holds; register it before sending what should cause it."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if check(self.state):
            future.set_result(self.last_update_at)
        else:
            self._waiting.append((check, future))
        return future

    async def wait_for(self, check: Check, *, timeout: float = ANSWER_SECONDS) -> float:
        """Wait until ``check(state)`` holds; returns when the update that made it hold arrived.
        ProtocolError after ``timeout`` seconds."""
        return await self.arrival(self.expect(check), timeout=timeout)

    async def arrival(self, future: asyncio.Future[float], *, timeout: float = ANSWER_SECONDS) -> float:
        """The arrival time an ``expect`` future receives; ProtocolError after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ProtocolError(
                f"Tab {self.path} ({self.token}): nothing matching within {timeout:.0f} s; "
                f"frontend actions received: {self.errors[-3:]}"
            ) from None

    async def _on_update(self, update: dict[str, Any]) -> None:
        self.last_update_at = time.perf_counter()
        for name, changes in (update.get("delta") or {}).items():
            self.state.setdefault(name, {}).update(changes)
        self.updates += 1
        for listener in self.listeners:
            listener(update)
        if self._waiting:
            still_waiting = []
            for check, future in self._waiting:
                if future.done():
                    continue
                if check(self.state):
                    future.set_result(self.last_update_at)
                else:
                    still_waiting.append((check, future))
            self._waiting = still_waiting
        for event in update.get("events") or []:
            name = event.get("name", "")
            if name.startswith(ROOT_STATE):  # a handler of the app: the browser sends it back
                await self._sio.emit(
                    "event",
                    {"name": name, "payload": event.get("payload") or {}, "router_data": self.router_data()},
                    namespace=NAMESPACE,
                )
            elif name in {"_redirect", "_call_function", "_call_script"}:
                self.errors.append(f"{name}: {event.get('payload')}")

    last_update_at: float = 0.0


def holds(state: type, var: str, value: Any) -> Check:
    """A check: ``state.var == value``."""
    key, wanted = state_name(state), var + VAR_SUFFIX

    def check(received: dict[str, dict[str, Any]]) -> bool:
        return received.get(key, {}).get(wanted, object()) == value

    return check


def at_least(state: type, var: str, value: int) -> Check:
    """A check: ``state.var >= value``."""
    key, wanted = state_name(state), var + VAR_SUFFIX

    def check(received: dict[str, dict[str, Any]]) -> bool:
        current = received.get(key, {}).get(wanted)
        return isinstance(current, int) and current >= value

    return check
