"""Start the real app (`reflex run`) for end-to-end tests, on its own ports, database and web
folder, so it never clashes with a developer's `reflex run` (ports 3000/8000, `.web`) in the
same tree. Used by the `app_server` fixture in conftest.py.

Three configurations, chosen by environment variables (`E2EConfig.from_environment()`):

- default: `reflex run --env dev` (one process, Vite dev server), a fresh SQLite file.
- ECONNECT_TEST_DB_URL (a postgresql+psycopg URL of a server on 127.0.0.1): a fresh PostgreSQL
  database `econnect_e2e_<pid>_<random>` on that server instead, migrated with `reflex db
  migrate` and dropped at the end. ECONNECT_TEST_REDIS_URL (redis://127.0.0.1:...): the app's
  REFLEX_REDIS_URL is a Redis database number of its own (an empty one, claimed with a marker key
  and flushed at the end; never the number in the URL, never one holding data).
- ECONNECT_E2E_WORKERS=2 (needs Redis): production mode, as deployed: `reflex run --env prod
  --frontend-only` builds the frontend and serves it; two backend processes (`reflex run --env
  prod --backend-only`, one Granian worker each, same database and Redis) sit behind ONE address,
  a loopback proxy (backend_proxy.py) that routes each connection by its User-Agent, so a test can
  put two browsers on different backends and see which websocket went where. Backends can be
  stopped with SIGTERM and started again (`AppServer.terminate_backend`, `start_backend`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
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
from urllib.parse import urlsplit, urlunsplit

from backend_proxy import BackendProxy
from mail_catcher import free_port
from sqlalchemy import create_engine, make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
E2E_WEB_WORKDIR = PROJECT_ROOT / ".web-e2e"  # kept between runs: later runs skip `bun install`
E2E_PROD_WEB_WORKDIR = PROJECT_ROOT / ".web-e2e-prod"  # the production build's, likewise
_RESERVED_PORTS = {3000, 8000}  # the developer's `reflex run`
LOOPBACK = "127.0.0.1"
_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
BACKEND_NAMES = ("a", "b")
POSTGRES_DATABASE_PREFIX = "econnect_e2e_"
_POSTGRES_DATABASE_NAME = re.compile(rf"^{POSTGRES_DATABASE_PREFIX}(\d+)_[0-9a-f]+$")
REDIS_CLAIM_KEY = "econnect:e2e:claimed-by"
REDIS_CLAIM_SECONDS = 6 * 3600  # a crashed run's claim lapses; its keys expire with Reflex's TTLs


class E2EConfigError(RuntimeError):
    """The environment asks for an e2e configuration that cannot run."""


@dataclass(frozen=True)
class E2EConfig:
    """What the e2e app runs on, from ECONNECT_TEST_DB_URL, ECONNECT_TEST_REDIS_URL and
    ECONNECT_E2E_WORKERS."""

    db_server_url: str | None = None
    redis_server_url: str | None = None
    workers: int = 1

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> E2EConfig:
        """Read and check the variables (E2EConfigError says what is wrong)."""
        environ = dict(os.environ if environ is None else environ)
        db_url = environ.get("ECONNECT_TEST_DB_URL", "").strip() or None
        redis_url = environ.get("ECONNECT_TEST_REDIS_URL", "").strip() or None
        workers_text = environ.get("ECONNECT_E2E_WORKERS", "").strip() or "1"
        if workers_text not in {"1", "2"}:
            raise E2EConfigError(f"ECONNECT_E2E_WORKERS must be 1 or 2, not {workers_text!r}")
        workers = int(workers_text)
        if workers == 2 and not redis_url:
            raise E2EConfigError("ECONNECT_E2E_WORKERS=2 needs ECONNECT_TEST_REDIS_URL (workers share state in Redis)")
        if db_url:
            url = make_url(db_url)
            if url.get_backend_name() != "postgresql":
                raise E2EConfigError(f"ECONNECT_TEST_DB_URL must be a postgresql+psycopg:// URL, not {db_url!r}")
            _require_loopback("ECONNECT_TEST_DB_URL", url.host)
        if redis_url:
            _require_loopback("ECONNECT_TEST_REDIS_URL", urlsplit(redis_url).hostname)
        return cls(db_server_url=db_url, redis_server_url=redis_url, workers=workers)

    @property
    def scaled(self) -> bool:
        """Production mode with two backends behind the proxy."""
        return self.workers >= 2

    def describe(self) -> str:
        """One line for the pytest header."""
        database = "PostgreSQL (a fresh database)" if self.db_server_url else "SQLite"
        redis = "Redis (own database number)" if self.redis_server_url else "no Redis"
        mode = "production mode, 2 backend processes behind a proxy" if self.scaled else "dev mode, 1 process"
        return f"e2e app: {mode}; {database}; {redis}"


def _require_loopback(variable: str, host: str | None) -> None:
    if host not in _LOOPBACK_NAMES:
        raise E2EConfigError(f"{variable} must point at 127.0.0.1 (tests never touch another host), not {host!r}")


class AppStartError(RuntimeError):
    """The app did not start; the message ends with the tail of its log."""


@dataclass
class ManagedProcess:
    """One server process of the app (its own session), started and stopped by the harness."""

    name: str
    command: list[str]
    env: dict[str, str] = field(repr=False)
    log_path: Path
    ready_url: str  # answers 200 once the process serves
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    exit_codes: list[int] = field(default_factory=list)  # of every run that ended

    def start(self) -> None:
        """Start it (again) in a new session; its output goes to `log_path`."""
        if self.running:
            raise RuntimeError(f"{self.name} is running already")
        with self.log_path.open("ab") as log:
            _log_line(log, "$ " + " ".join(self.command[1:]))
            self.process = subprocess.Popen(
                self.command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: teardown stops all of it
            )

    @property
    def running(self) -> bool:
        """Whether its main process is alive."""
        return self.process is not None and self.process.poll() is None

    @property
    def pids(self) -> list[int]:
        """Every live process of its session (the server and its workers)."""
        return _session_members(self.process.pid) if self.process is not None else []

    def wait_until_ready(self, timeout: float) -> None:
        """Return once `ready_url` answers; AppStartError when it exits or takes too long."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _answers(self.ready_url):
                return
            try:  # wait a moment, and notice at once when it exits early
                code = self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
            raise AppStartError(f"{self.name} exited with {code} while starting. Log: {self.log_path}\n"
                                f"{log_tail(self.log_path, 60)}")
        raise AppStartError(f"Gave up after {timeout:g} s waiting for {self.name} ({self.ready_url}). "
                            f"Log: {self.log_path}\n{log_tail(self.log_path, 60)}")

    def terminate(self, timeout: float = 60) -> int | None:
        """Stop it as an orchestrator does: SIGTERM to the server process only (it stops its
        workers gracefully), then wait for the whole session to exit. Returns the exit code (None
        when it had to be killed after `timeout` seconds)."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        with self.log_path.open("ab") as log:
            _log_line(log, f"SIGTERM to {self.name} (pid {process.pid})")
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        _wait_for_exit(process, process.pid, timeout)
        if _session_members(process.pid) or process.poll() is None:
            stop_process_tree(process, grace=1)
            return None
        code = process.wait()
        self.exit_codes.append(code)
        return code

    def stop(self) -> None:
        """Stop it and everything it started (SIGTERM, then SIGKILL after a grace period)."""
        if self.process is not None:
            process, self.process = self.process, None
            stop_process_tree(process)


@dataclass
class AppServer:
    """A running app for the tests: `reflex run` in dev mode, or (scaled) a production frontend
    and several backend processes behind `proxy`."""

    base_url: str  # the frontend, e.g. http://localhost:39123 (what the browser opens)
    backend_url: str  # the backend (event websocket, /ping, /_health); the proxy when scaled
    db_url: str  # the app's database; check it with econnect_app.db.make_engine(db_url)
    data_dir: Path  # ECONNECT_DATA_DIR of the app
    log_path: Path  # everything `reflex db migrate` and `reflex run` printed (the frontend's, scaled)
    web_dir: Path  # REFLEX_WEB_WORKDIR of the app
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    mode: str = "dev"  # "dev" or "prod"
    redis_url: str | None = None  # the app's REFLEX_REDIS_URL
    frontend: ManagedProcess | None = field(default=None, repr=False)  # scaled: the static frontend
    backends: dict[str, ManagedProcess] = field(default_factory=dict, repr=False)  # scaled: "a", "b"
    proxy: BackendProxy | None = field(default=None, repr=False)  # scaled: the one backend address

    @property
    def scaled(self) -> bool:
        """Several backend processes behind the proxy (production mode)."""
        return bool(self.backends)

    @property
    def secret_key(self) -> str:
        """The app's ECONNECT_SECRET_KEY: generated into its data folder in dev mode, set in the
        backends' environment (one for all) in production mode."""
        if self.scaled:
            return next(iter(self.backends.values())).env["ECONNECT_SECRET_KEY"]
        return (self.data_dir / "secret_key").read_text().strip()

    def url(self, path: str) -> str:
        """The frontend URL of a path, e.g. url("/login")."""
        return self.base_url + path

    def user_agent(self, backend: str) -> str:
        """Scaled: the User-Agent (browser context option) that routes a browser to `backend`."""
        if self.proxy is None or backend not in self.backends:
            raise ValueError(f"no backend {backend!r} (backends: {sorted(self.backends)})")
        return self.proxy.user_agent(backend)

    def terminate_backend(self, name: str, timeout: float = 60) -> int | None:
        """Scaled: SIGTERM one backend and wait until it has exited; returns its exit code."""
        return self.backends[name].terminate(timeout)

    def start_backend(self, name: str, timeout: float = 120) -> None:
        """Scaled: start a stopped backend again (same port, database and Redis); returns when it
        answers /ping."""
        backend = self.backends[name]
        backend.start()
        backend.wait_until_ready(timeout)

    def log_tail(self, lines: int = 80) -> str:
        """The last lines of the app's logs (each backend's too, when scaled)."""
        parts = [log_tail(self.log_path, lines)]
        for name, backend in self.backends.items():
            parts.append(f"--- backend {name} ({backend.log_path.name}) ---\n{log_tail(backend.log_path, lines)}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the app and everything it started (bun, vite, granian workers, the proxy)."""
        if self.process is not None:
            stop_process_tree(self.process)
            self.process = None
        for backend in self.backends.values():
            backend.stop()
        if self.frontend is not None:
            self.frontend.stop()
        if self.proxy is not None:
            self.proxy.stop()


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
def claim_web_workdir(fallback: Path, workdir: Path = E2E_WEB_WORKDIR) -> Iterator[Path]:
    """`workdir` (`.web-e2e`, or `.web-e2e-prod` for production builds) in the project (compiled
    and installed once, then reused), or `fallback` when another test run holds it at the moment."""
    lock_file = workdir.with_name(workdir.name + ".lock")
    with lock_file.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield fallback
            return
        try:
            yield workdir
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- the databases of one run ------------------------------------------------------------------


@contextlib.contextmanager
def postgres_test_database(server_url: str) -> Iterator[str]:
    """A new, empty database `econnect_e2e_<pid>_<random>` on the server of `server_url` for the
    block, dropped afterwards (with any connection still open). Databases left by killed runs
    (their pid is gone) are dropped first. The database named in the URL is never touched."""
    server = make_url(server_url)
    name = f"{POSTGRES_DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
    maintenance = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with maintenance.connect() as connection:
            leftovers = connection.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE %(prefix)s",
                {"prefix": POSTGRES_DATABASE_PREFIX + "%"},
            ).scalars()
            for leftover in list(leftovers):
                match = _POSTGRES_DATABASE_NAME.match(leftover)
                if match and not _pid_alive(int(match.group(1))):
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{leftover}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with maintenance.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        maintenance.dispose()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def redis_test_database(server_url: str) -> Iterator[str]:
    """The URL of a Redis database number of this run's own on the server of `server_url`.

    It picks an EMPTY database other than the URL's own (a developer's app may use that one),
    claims it with a marker key (SET NX, expiring after 6 hours), and at the end flushes that
    database only, and only while the claim is still this run's. Other data is never touched."""
    import redis

    parts = urlsplit(server_url)
    own_db = int((parts.path or "/0").strip("/") or 0)
    admin = redis.Redis.from_url(server_url)
    try:
        try:
            count = int(admin.config_get("databases").get("databases", 16))
        except redis.ResponseError:  # CONFIG disabled: the default count
            count = 16
    finally:
        admin.close()
    claim = f"{os.getpid()}-{secrets.token_hex(8)}"
    for db in [number for number in range(count - 1, -1, -1) if number != own_db]:
        url = urlunsplit(parts._replace(path=f"/{db}"))
        client = redis.Redis.from_url(url)
        try:
            if client.dbsize() != 0 or not client.set(REDIS_CLAIM_KEY, claim, nx=True, ex=REDIS_CLAIM_SECONDS):
                continue
            if client.dbsize() != 1:  # someone else started using it at the same moment
                client.delete(REDIS_CLAIM_KEY)
                continue
        finally:
            client.close()
        try:
            yield url
        finally:
            client = redis.Redis.from_url(url)
            try:
                if client.get(REDIS_CLAIM_KEY) == claim.encode():
                    client.flushdb()
            finally:
                client.close()
        return
    raise E2EConfigError(f"No empty Redis database on {parts.hostname}:{parts.port} to claim for this run")


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
    redis_url: str | None = None,
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
        # The suite signs up and invites far more people from 127.0.0.1 than anyone would in an hour.
        ECONNECT_RATE_LIMIT_SCALE="100",
    )
    if smtp_url:
        env["ECONNECT_SMTP_URL"] = smtp_url
    if redis_url:
        env["REFLEX_REDIS_URL"] = redis_url
    return env


def production_environment(base: dict[str, str], *, api_url: str) -> dict[str, str]:
    """`base` for production mode: what the app demands there (SMTP, a real secret key, the public
    URL, all in `base` but the key), one Granian worker per process, and the frontend built to
    talk to `api_url` (the proxy) instead of its own origin."""
    if "ECONNECT_SMTP_URL" not in base:
        raise AppStartError("Production mode needs an SMTP server (the mail catcher)")
    return {
        **base,
        "REFLEX_ENV_MODE": "prod",
        "ECONNECT_SECRET_KEY": secrets.token_urlsafe(48),
        "REFLEX_API_URL": api_url,
        "REFLEX_USE_GRANIAN": "true",
        "GRANIAN_WORKERS": "1",
    }


def migrate(reflex: str, env: dict[str, str], log_path: Path, timeout: float, server: AppServer) -> None:
    """`reflex db migrate` on the app's database (AppStartError with the log's tail on failure)."""
    with log_path.open("ab") as log:
        _log_line(log, f"$ reflex db migrate  (REFLEX_DB_URL={_hide_password(env['REFLEX_DB_URL'])})")
        try:
            migrated = subprocess.run(
                [reflex, "db", "migrate"],
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise AppStartError(_failure("`reflex db migrate` took too long", server)) from None
    if migrated.returncode != 0:
        raise AppStartError(_failure(f"`reflex db migrate` exited with {migrated.returncode}", server))


def _hide_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True) if "://" in url else url


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
    db_url: str | None = None,
    redis_url: str | None = None,
) -> AppServer:
    """Migrate the database (a fresh SQLite file in `work_dir` unless `db_url` is given) and start
    `reflex run` in dev mode on free ports; return once the frontend serves / and the backend
    answers /ping.

    Raises AppStartError (with the log's tail) when migrating or starting fails or takes too long.
    """
    data_dir = work_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    frontend_port, backend_port = pick_ports()
    server = AppServer(
        base_url=f"http://localhost:{frontend_port}",
        backend_url=f"http://localhost:{backend_port}",
        db_url=db_url or f"sqlite:///{data_dir / 'econnect.db'}",
        data_dir=data_dir,
        log_path=work_dir / "app.log",
        web_dir=web_dir,
        redis_url=redis_url,
    )
    env = app_environment(
        work_dir=work_dir,
        web_dir=web_dir,
        data_dir=data_dir,
        db_url=server.db_url,
        smtp_url=smtp_url,
        public_url=server.base_url,
        redis_url=redis_url,
    )
    reflex = _reflex_executable()
    migrate(reflex, env, server.log_path, migrate_timeout, server)
    with server.log_path.open("ab") as log:
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


def start_scaled_app_server(
    *,
    work_dir: Path,
    web_dir: Path,
    smtp_url: str,
    db_url: str,
    redis_url: str,
    backend_names: tuple[str, ...] = BACKEND_NAMES,
    startup_timeout: float = 600,
    migrate_timeout: float = 180,
) -> AppServer:
    """Production mode, as deployed: migrate, then start the static frontend (`reflex run --env
    prod --frontend-only`, which builds it first) and one backend process per name (`reflex run
    --env prod --backend-only`, each on its own port) at once; the browser reaches the backends
    through ONE address, a BackendProxy. Returns once the frontend, every backend and the proxy
    answer. Everything listens on 127.0.0.1 only.
    """
    data_dir = work_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    frontend_port, *backend_ports = _free_ports(1 + len(backend_names))
    backend_ports_by_name = dict(zip(backend_names, backend_ports, strict=True))
    proxy = BackendProxy(backend_ports_by_name).start()
    base_url = f"http://{LOOPBACK}:{frontend_port}"
    server = AppServer(
        base_url=base_url,
        backend_url=proxy.url,
        db_url=db_url,
        data_dir=data_dir,
        log_path=work_dir / "app.log",
        web_dir=web_dir,
        mode="prod",
        redis_url=redis_url,
        proxy=proxy,
    )
    try:
        env = production_environment(
            app_environment(
                work_dir=work_dir, web_dir=web_dir, data_dir=data_dir, db_url=db_url,
                smtp_url=smtp_url, public_url=base_url, redis_url=redis_url,
            ),
            api_url=proxy.url,
        )  # fmt: skip
        reflex = _reflex_executable()
        migrate(reflex, env, server.log_path, migrate_timeout, server)
        common = ["--env", "prod", "--backend-host", LOOPBACK, "--loglevel", "info"]
        server.frontend = ManagedProcess(
            name="frontend",
            command=[reflex, "run", "--frontend-only", "--frontend-port", str(frontend_port), *common],
            env=env,
            log_path=server.log_path,
            ready_url=base_url + "/",
        )
        for name, port in backend_ports_by_name.items():
            server.backends[name] = ManagedProcess(
                name=f"backend {name}",
                command=[reflex, "run", "--backend-only", "--backend-port", str(port), *common],
                env=env,
                log_path=work_dir / f"backend-{name}.log",
                ready_url=f"http://{LOOPBACK}:{port}/ping",
            )
        server.frontend.start()
        for backend in server.backends.values():
            backend.start()
        deadline = time.monotonic() + startup_timeout
        for process in [*server.backends.values(), server.frontend]:
            process.wait_until_ready(max(deadline - time.monotonic(), 1))
        if not _answers(proxy.url + "/ping"):
            raise AppStartError(_failure("The proxy does not reach the backends", server))
    except BaseException:
        server.stop()
        raise
    return server


def _free_ports(count: int) -> list[int]:
    """`count` distinct free ports on 127.0.0.1, never the ones of a developer's `reflex run`."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(LOOPBACK)
        if port not in _RESERVED_PORTS and port not in ports:
            ports.append(port)
    return ports


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
