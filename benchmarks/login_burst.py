"""Log-in burst: wrong log-ins from one client against one backend worker, while another client's
events go on, over the real websocket of the real backend (issue 8: another client's round trip
stays under 500 ms meanwhile).

Starts the backend alone (`reflex run --env dev --backend-only`, one worker, a throw-away SQLite
database and data folder, on 127.0.0.1) with ``ECONNECT_TRUSTED_PROXY_HOPS=1``, so each client
names its address in ``X-Forwarded-For`` as a proxy in front of it would. Then:

1. the bystander (198.51.100.20) times ``--baseline`` round trips of the /login page's on_load
   event (``AuthState.redirect_if_signed_in``: a worker thread, a database session) on its own;
2. the attacker (203.0.113.7) opens ``--tabs`` websockets and sends ``--logins`` wrong passwords
   for one account, all at once (each tab's events queue on the server), while the bystander keeps
   timing its round trips until every log-in is answered;
3. the account's owner logs in from the bystander's address with the right password.

Each client speaks Engine.IO 4 / Socket.IO 5 as Reflex's frontend does, with `simple-websocket`
(installed with Reflex). Everything stops by itself: every wait has a deadline and the backend's
process group is ended at the end. Prints the round trips before and during the burst and writes
them to ``benchmarks/results/login_burst.json``; exits 1 when the slowest round trip during the
burst is over ``--target-ms``.

    .venv/bin/python -m benchmarks.login_burst
    .venv/bin/python -m benchmarks.login_burst --logins 300 --tabs 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import simple_websocket
from sqlalchemy import create_engine, text

from benchmarks.support import (
    PROJECT_ROOT,
    RESULTS_DIR,
    format_table,
    machine,
    migrate_to_head,
    percentile,
    write_json,
)

ATTACKER_ADDRESS = "203.0.113.7"
BYSTANDER_ADDRESS = "198.51.100.20"
OWNER_EMAIL = "owner@example.com"
OWNER_PASSWORD = "a long passphrase nobody guesses"
NAMESPACE = "/_event"
LOGIN_PATH = "/login"
ANSWER_SECONDS = 60  # the longest wait for any one answer; only reached when something is broken
START_SECONDS = 120

# Names of Reflex state classes and vars as they travel over the websocket.
AUTH_STATE = "reflex___state____state.econnect_app___state___auth____auth_state"
LOGIN_STATE = f"{AUTH_STATE}.econnect_app___pages___login____login_state"
LOG_IN_EVENT = f"{LOGIN_STATE}.log_in"
ON_LOAD_EVENT = f"{AUTH_STATE}.redirect_if_signed_in"


class BurstError(RuntimeError):
    """The backend did not start or did not answer in time (the message says what and shows its log)."""


@dataclass
class BurstResult:
    """What one run saw."""

    attacker_answers: list[str]
    bystander_before_ms: list[float]
    bystander_during_ms: list[float]
    burst_seconds: float
    recorded_attempts: list[dict[str, Any]]
    owner_logged_in: bool
    tabs: int
    machine: dict[str, Any] = field(default_factory=machine)


class Tab:
    """One browser tab's websocket to the backend, as Reflex's frontend opens it."""

    def __init__(self, port: int, *, address: str) -> None:
        self.token = str(uuid.uuid4())
        self.socket = simple_websocket.Client.connect(
            f"ws://127.0.0.1:{port}{NAMESPACE}/?EIO=4&transport=websocket&token={self.token}",
            headers={"X-Forwarded-For": address},
        )
        # Join the namespace at once: simple-websocket reads the server's greeting together with the
        # handshake and hands it over only when more data arrives (the answer to this).
        self.socket.send(f"40{NAMESPACE},")
        opened = self._next(ANSWER_SECONDS)
        if not opened.startswith("0"):
            raise BurstError(f"Unexpected Engine.IO greeting: {opened[:200]}")
        connected = self._next(ANSWER_SECONDS)
        if not connected.startswith(f"40{NAMESPACE},"):
            raise BurstError(f"The backend refused the Socket.IO connection: {connected[:200]}")

    def send(self, name: str, payload: dict[str, Any]) -> None:
        """Send one event from the /login page."""
        router_data = {"pathname": LOGIN_PATH, "asPath": LOGIN_PATH, "query": {}}
        event = {"name": name, "payload": payload, "router_data": router_data}
        self.socket.send(f"42{NAMESPACE}," + json.dumps(["event", event]))

    def next_delta(self, deadline: float) -> dict[str, dict[str, Any]]:
        """The next state update's delta (answering the server's pings meanwhile)."""
        while True:
            message = self._next(max(0.0, deadline - time.monotonic()))
            if message.startswith(f"42{NAMESPACE},"):
                name, update = json.loads(message[len(NAMESPACE) + 3 :])
                if name == "event":
                    return update.get("delta") or {}

    def log_in(self, email: str, password: str) -> None:
        self.send(LOG_IN_EVENT, {"form": {"email": email, "password": password}})

    def answer_to_log_in(self, deadline: float) -> tuple[str, bool]:
        """The message above the log-in form and whether the tab is signed in, once the log-in
        event has finished (the update that ends its busy state)."""
        form_error, signed_in = "", False
        while True:
            delta = self.next_delta(deadline)
            form_error = delta.get(LOGIN_STATE, {}).get("form_error_rx_state_", form_error)
            auth = delta.get(AUTH_STATE, {})
            signed_in = auth.get("signed_in_rx_state_", signed_in)
            if auth.get("busy_rx_state_") is False:
                return form_error, signed_in

    def round_trip_ms(self) -> float:
        """Send the /login page's on_load event and time it until its outcome arrives."""
        started = time.perf_counter()
        self.send(ON_LOAD_EVENT, {})
        deadline = time.monotonic() + ANSWER_SECONDS
        while "signed_in_rx_state_" not in self.next_delta(deadline).get(AUTH_STATE, {}):
            pass
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.socket.close()

    def _next(self, timeout: float) -> str:
        while True:
            message = self.socket.receive(timeout=timeout)
            if message is None:
                raise BurstError(f"No message from the backend within {timeout:.0f} s")
            if message == "2":  # Engine.IO ping
                self.socket.send("3")
                continue
            return message


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _backend_environment(work_dir: Path, db_url: str) -> dict[str, str]:
    """This process's environment without anything that steers the app elsewhere, plus the backend's."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("REFLEX_", "ECONNECT_", "PYTEST_"))}
    (work_dir / "no-hot-reload").mkdir(exist_ok=True)
    env.update(
        PATH=os.pathsep.join([str(PROJECT_ROOT / ".venv" / "bin"), env.get("PATH", "")]),
        REFLEX_DB_URL=db_url,
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_WEB_WORKDIR=str(work_dir / "web"),
        REFLEX_STATES_WORKDIR=str(work_dir / "states"),
        REFLEX_HOT_RELOAD_OVERRIDE_PATHS=str(work_dir / "no-hot-reload"),  # edits elsewhere never restart it
        ECONNECT_DATA_DIR=str(work_dir / "data"),
        ECONNECT_TRUSTED_PROXY_HOPS="1",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    return env


def _add_owner(db_url: str) -> None:
    """The account the attacker guesses at: an active, confirmed administrator."""
    from sqlmodel import Session

    from econnect_app import security
    from econnect_app.models import Environment, Role, User, utcnow

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            environment = Environment(name="Owner BV")
            session.add(environment)
            session.flush()
            session.add(
                User(
                    environment_id=environment.id,  # type: ignore[arg-type]
                    name="Olga Owner",
                    email=OWNER_EMAIL,
                    password_hash=security.hash_password(OWNER_PASSWORD),
                    role=Role.ADMINISTRATOR.value,
                    email_confirmed_at=utcnow(),
                )
            )
            session.commit()
    finally:
        engine.dispose()


def _recorded_attempts(db_url: str) -> list[dict[str, Any]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT email, client_address, succeeded FROM login_attempt ORDER BY id"))
            return [{"email": email, "client_address": client, "succeeded": bool(ok)} for email, client, ok in rows]
    finally:
        engine.dispose()


@contextmanager
def running_backend() -> Iterator[tuple[int, str]]:
    """A migrated throw-away database with the owner's account and the backend serving it:
    (port, database URL). Everything is removed afterwards."""
    work_dir = Path(tempfile.mkdtemp(prefix="econnect-login-burst-"))
    (work_dir / "data").mkdir()
    db_url = f"sqlite:///{work_dir / 'data' / 'econnect.db'}"
    log_path = work_dir / "backend.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        migrate_to_head(db_url)
        _add_owner(db_url)
        port = _free_port()
        reflex = str(PROJECT_ROOT / ".venv" / "bin" / "reflex")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [reflex, "run", "--env", "dev", "--backend-only", "--backend-host", "127.0.0.1",
                 "--backend-port", str(port), "--loglevel", "warning"],  # fmt: skip
                cwd=PROJECT_ROOT,
                env=_backend_environment(work_dir, db_url),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, ended as a whole below
            )
        _wait_until_answering(port, process, log_path)
        yield port, db_url
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        shutil.rmtree(work_dir, ignore_errors=True)


def _wait_until_answering(port: int, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BurstError(f"The backend exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling a starting process: there is nothing to wait on
    raise BurstError(f"The backend did not answer within {START_SECONDS} s:\n{log_path.read_text()[-3000:]}")


def run_burst(*, logins: int = 100, tabs: int = 10, baseline: int = 20) -> BurstResult:
    """Run the scenario of the module docstring against a fresh backend."""
    with running_backend() as (port, db_url):
        bystander = Tab(port, address=BYSTANDER_ADDRESS)
        before = [bystander.round_trip_ms() for _ in range(baseline)]
        attacker_tabs = [Tab(port, address=ATTACKER_ADDRESS) for _ in range(tabs)]
        shares = [logins // tabs + (1 if index < logins % tabs else 0) for index in range(tabs)]
        answers: list[str] = []
        failures: list[BaseException] = []
        lock = threading.Lock()

        def attack(tab: Tab, count: int) -> None:
            try:
                for guess in range(count):
                    tab.log_in(OWNER_EMAIL, f"wrong guess {guess} from {tab.token}")
                deadline = time.monotonic() + ANSWER_SECONDS
                for _ in range(count):
                    message, _signed_in = tab.answer_to_log_in(deadline)
                    with lock:
                        answers.append(message)
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                failures.append(error)

        threads = [threading.Thread(target=attack, args=(tab, count)) for tab, count in zip(attacker_tabs, shares, strict=True)]
        burst_started = time.perf_counter()
        for thread in threads:
            thread.start()
        during: list[float] = []
        while any(thread.is_alive() for thread in threads):
            during.append(bystander.round_trip_ms())
        burst_seconds = time.perf_counter() - burst_started
        for thread in threads:
            thread.join(ANSWER_SECONDS)
        if failures:
            raise BurstError(f"An attacker tab failed: {failures[0]!r}") from failures[0]

        bystander.log_in(OWNER_EMAIL, OWNER_PASSWORD)
        _message, owner_logged_in = bystander.answer_to_log_in(time.monotonic() + ANSWER_SECONDS)
        for tab in [bystander, *attacker_tabs]:
            tab.close()
        return BurstResult(
            attacker_answers=answers,
            bystander_before_ms=before,
            bystander_during_ms=during,
            burst_seconds=burst_seconds,
            recorded_attempts=_recorded_attempts(db_url),
            owner_logged_in=owner_logged_in,
            tabs=tabs,
        )


def summary_rows(result: BurstResult) -> list[list[Any]]:
    rows = []
    for label, values in (("before the burst", result.bystander_before_ms), ("during the burst", result.bystander_during_ms)):
        rows.append([label, len(values), *(f"{percentile(values, q):.1f}" for q in (0.5, 0.95)), f"{max(values):.1f}"])
    return rows


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=100, help="wrong log-ins the attacker sends (100)")
    parser.add_argument("--tabs", type=int, default=10, help="websockets they are sent over, at once (10)")
    parser.add_argument("--baseline", type=int, default=20, help="bystander round trips before the burst (20)")
    parser.add_argument("--target-ms", type=float, default=500.0, help="slowest round trip allowed during it (500)")
    parser.add_argument("--output", type=Path, default=None, help="JSON file (benchmarks/results/login_burst.json)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    result = run_burst(logins=args.logins, tabs=args.tabs, baseline=args.baseline)
    slowest = max(result.bystander_during_ms)
    checked = sum(answer.startswith("The email address or password is incorrect") for answer in result.attacker_answers)
    print(
        f"{len(result.attacker_answers)} wrong log-ins over {result.tabs} websockets in {result.burst_seconds:.2f} s: "
        f"{checked} passwords checked, {len(result.attacker_answers) - checked} refused by the throttle; "
        f"the owner {'logged in' if result.owner_logged_in else 'could NOT log in'} from another address."
    )
    print("\nbystander's round trip (ms):")
    print(format_table(["", "runs", "p50", "p95", "max"], summary_rows(result)))
    target_met = slowest < args.target_ms
    print(f"\ntarget: every round trip during the burst under {args.target_ms:.0f} ms: {'met' if target_met else 'NOT met'}")
    output = write_json(
        args.output or RESULTS_DIR / "login_burst.json",
        {**asdict(result), "passwords_checked": checked, "target_ms": args.target_ms, "target_met": target_met},
    )
    print(f"written to {output}")
    return 0 if target_met else 1


if __name__ == "__main__":
    raise SystemExit(main())
