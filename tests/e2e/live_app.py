"""Start the real app (`reflex run`) for end-to-end tests, on its own ports, database and web
folder, so it never clashes with a developer's `reflex run` (ports 3000/8000, `.web`) in the
same tree. Used by the `app_server` fixture in conftest.py.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from mail_catcher import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
E2E_WEB_WORKDIR = PROJECT_ROOT / ".web-e2e"  # kept between runs: later runs skip `bun install`
_RESERVED_PORTS = {3000, 8000}  # the developer's `reflex run`


class AppStartError(RuntimeError):
    """The app did not start; the message ends with the tail of its log."""


@dataclass
class AppServer:
    """A running `reflex run` for the tests."""

    base_url: str  # the frontend, e.g. http://localhost:39123 (what the browser opens)
    backend_url: str  # the backend (event websocket, /ping, /_health)
    db_url: str  # the app's SQLite database; check it with econnect_app.db.make_engine(db_url)
    data_dir: Path  # ECONNECT_DATA_DIR of the app
    log_path: Path  # everything `reflex db migrate` and `reflex run` printed
    web_dir: Path  # REFLEX_WEB_WORKDIR of the app
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        """The frontend URL of a path, e.g. url("/login")."""
        return self.base_url + path

    def log_tail(self, lines: int = 80) -> str:
        """The last lines of the app's log."""
        return log_tail(self.log_path, lines)

    def stop(self) -> None:
        """Stop the app and everything it started (bun, vite, granian workers)."""
        if self.process is not None:
            stop_process_tree(self.process)
            self.process = None


def log_tail(path: Path, lines: int = 80) -> str:
    """The last `lines` lines of a log file ("" when there is none)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def pick_ports() -> tuple[int, int]:
    """Two distinct free ports, never the ones of a developer's `reflex run`."""
    ports: list[int] = []
    while len(ports) < 2:
        port = free_port()
        if port not in _RESERVED_PORTS and port not in ports:
            ports.append(port)
    return ports[0], ports[1]


@contextlib.contextmanager
def claim_web_workdir(fallback: Path) -> Iterator[Path]:
    """`.web-e2e` in the project (compiled and installed once, then reused), or `fallback` when
    another test run holds it at the moment."""
    lock_file = PROJECT_ROOT / ".web-e2e.lock"
    with lock_file.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield fallback
            return
        try:
            yield E2E_WEB_WORKDIR
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _reflex_executable() -> str:
    for candidate in (PROJECT_ROOT / ".venv" / "bin" / "reflex", Path(sys.executable).with_name("reflex")):
        if candidate.exists():
            return str(candidate)
    raise AppStartError("No `reflex` executable in .venv/bin: run `make test` (or `make setup`) first.")


def app_environment(
    *,
    work_dir: Path,
    web_dir: Path,
    data_dir: Path,
    db_url: str,
    smtp_url: str | None,
    public_url: str,
) -> dict[str, str]:
    """The child environment: this process's, minus anything that would steer the app elsewhere."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("REFLEX_", "ECONNECT_", "PYTEST_")) and key not in {"PORT", "API_URL", "DEPLOY_URL"}
    }
    no_reload_dir = work_dir / "no-hot-reload"  # watched instead of the sources: the lead's
    no_reload_dir.mkdir(exist_ok=True)  # edits during a run must not restart this server
    env.update(
        PATH=os.pathsep.join(
            [str(PROJECT_ROOT / ".tools" / "node_modules" / ".bin"), str(PROJECT_ROOT / ".venv" / "bin"), env.get("PATH", "")]
        ),
        REFLEX_USE_SYSTEM_BUN="1",
        REFLEX_TELEMETRY_ENABLED="false",
        REFLEX_CHECK_LATEST_VERSION="false",
        REFLEX_WEB_WORKDIR=str(web_dir),
        REFLEX_STATES_WORKDIR=str(work_dir / "states"),
        REFLEX_HOT_RELOAD_OVERRIDE_PATHS=str(no_reload_dir),
        REFLEX_VITE_WARMUP_ROUTES="true",
        REFLEX_DB_URL=db_url,
        ECONNECT_DATA_DIR=str(data_dir),
        ECONNECT_PUBLIC_URL=public_url,
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    if smtp_url:
        env["ECONNECT_SMTP_URL"] = smtp_url
    return env


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback only)
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def start_app_server(
    *,
    work_dir: Path,
    web_dir: Path,
    smtp_url: str | None,
    startup_timeout: float = 240,
    migrate_timeout: float = 180,
) -> AppServer:
    """Migrate a fresh SQLite database in `work_dir` and start `reflex run` in dev mode on free
    ports; return once the frontend serves / and the backend answers /ping.

    Raises AppStartError (with the log's tail) when migrating or starting fails or takes too long.
    """
    data_dir = work_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    frontend_port, backend_port = pick_ports()
    server = AppServer(
        base_url=f"http://localhost:{frontend_port}",
        backend_url=f"http://localhost:{backend_port}",
        db_url=f"sqlite:///{data_dir / 'econnect.db'}",
        data_dir=data_dir,
        log_path=work_dir / "app.log",
        web_dir=web_dir,
    )
    env = app_environment(
        work_dir=work_dir,
        web_dir=web_dir,
        data_dir=data_dir,
        db_url=server.db_url,
        smtp_url=smtp_url,
        public_url=server.base_url,
    )
    reflex = _reflex_executable()
    with server.log_path.open("ab") as log:
        _log_line(log, f"$ reflex db migrate  (REFLEX_DB_URL={server.db_url})")
        try:
            migrated = subprocess.run(
                [reflex, "db", "migrate"],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=migrate_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AppStartError(_failure("`reflex db migrate` took too long", server)) from None
        if migrated.returncode != 0:
            raise AppStartError(_failure(f"`reflex db migrate` exited with {migrated.returncode}", server))

        command = [
            reflex, "run", "--env", "dev", "--frontend-port", str(frontend_port),
            "--backend-port", str(backend_port), "--loglevel", "info",
        ]  # fmt: skip
        _log_line(log, "$ " + " ".join(command[1:]))
        server.process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: teardown stops all of it
        )
    try:
        _wait_until_ready(server, startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def _log_line(log: IO[bytes], line: str) -> None:
    log.write(f"\n[e2e] {line}\n".encode())
    log.flush()


def _failure(reason: str, server: AppServer) -> str:
    return f"{reason}. Log: {server.log_path}\n--- last lines ---\n{server.log_tail()}"


def _wait_until_ready(server: AppServer, timeout: float) -> None:
    assert server.process is not None
    deadline = time.monotonic() + timeout
    backend_up = frontend_up = False
    while time.monotonic() < deadline:
        backend_up = backend_up or _answers(server.backend_url + "/ping")
        frontend_up = frontend_up or (backend_up and _answers(server.base_url + "/"))
        if backend_up and frontend_up:
            return
        try:  # wait a moment, and notice at once when the app exits early
            code = server.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            continue
        raise AppStartError(_failure(f"`reflex run` exited with {code} while starting", server))
    waiting_for = " and ".join(
        name for name, up in (("the backend /ping", backend_up), ("the frontend /", frontend_up)) if not up
    )
    raise AppStartError(_failure(f"Gave up after {timeout:g} s waiting for {waiting_for}", server))


# --- stopping everything the app started -------------------------------------------------------


def stop_process_tree(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM the process's session (it was started with start_new_session=True), then SIGKILL
    whatever is still alive after `grace` seconds; reap the process."""
    session_id = process.pid
    _signal_session(session_id, signal.SIGTERM)
    _wait_for_exit(process, session_id, grace)
    if _session_members(session_id):
        _signal_session(session_id, signal.SIGKILL)
        _wait_for_exit(process, session_id, 5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def _signal_session(session_id: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(session_id, signum)  # the process group, its id is the session leader's pid
    for pid in _session_members(session_id):  # anything that moved to another group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _session_members(session_id: int) -> list[int]:
    """Live (non-zombie) processes of a session, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state ppid pgrp session ...
        if fields[0] != "Z" and int(fields[3]) == session_id:
            members.append(int(entry.name))
    return members


def _wait_for_exit(process: subprocess.Popen[bytes], session_id: int, timeout: float) -> None:
    """Wait until every member of the session has exited, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    for pid in _session_members(session_id):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            pidfd = os.pidfd_open(pid)
        except (ProcessLookupError, OSError):
            continue
        try:
            select.select([pidfd], [], [], remaining)  # readable once the process has exited
        finally:
            os.close(pidfd)
