"""The app's backend in production mode for the live benchmarks, on a throw-away database.

``running_backend(scale_out=False)``: SQLite, one Granian worker. ``scale_out=True``: a fresh
PostgreSQL database and a Redis database number of its own on the servers of
``scripts/services.sh`` (started if needed), two Granian workers on one port, as ``make run-prod``
deploys it. Either way ``reflex run --env prod --backend-only`` on 127.0.0.1, with a mail catcher as
its SMTP server, and everything (databases, processes, folders) is removed at the end.

The pieces come from the end-to-end harness (tests/e2e/live_app.py): the app's environment, the
Redis claim, stopping a process tree.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.support import PROJECT_ROOT, migrate_to_head, temporary_database

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "e2e"))  # the e2e harness's modules are top-level there

from live_app import (  # noqa: E402
    _session_members,
    app_environment,
    log_tail,
    redis_test_database,
    stop_process_tree,
)
from mail_catcher import MailCatcher, free_port  # noqa: E402

START_SECONDS = 180


class BackendStartError(RuntimeError):
    """The backend did not start (the message ends with its log)."""


@dataclass
class Backend:
    """A running backend: where to reach it and what it runs on."""

    url: str  # http://127.0.0.1:<port>
    db_url: str
    workers: int
    database: str  # "sqlite" or "postgresql"
    process: subprocess.Popen[bytes]
    log_path: Path

    def rss_bytes(self) -> int:
        """Resident memory of the backend's processes (the server and its workers), from /proc."""
        total = 0
        for pid in _session_members(self.process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)


def services_urls() -> dict[str, str]:
    """REFLEX_DB_URL and REFLEX_REDIS_URL of ``scripts/services.sh`` (started if needed)."""
    subprocess.run(["bash", "scripts/services.sh", "start"], cwd=PROJECT_ROOT, check=True, capture_output=True)
    printed = subprocess.run(
        ["bash", "scripts/services.sh", "env"], cwd=PROJECT_ROOT, check=True, capture_output=True, text=True
    ).stdout
    return dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)


@contextmanager
def running_backend(*, scale_out: bool = False, prepare=None) -> Iterator[Backend]:  # type: ignore[no-untyped-def]
    """Migrate a fresh database, call ``prepare(db_url)`` (to add rows), start the backend and yield
    it once it answers /ping."""
    with ExitStack() as stack:
        work_dir = Path(tempfile.mkdtemp(prefix="econnect-live-bench-"))
        stack.callback(shutil.rmtree, work_dir, True)
        redis_url = None
        if scale_out:
            urls = services_urls()
            db_url = stack.enter_context(temporary_database("postgresql", server_url=urls["REFLEX_DB_URL"]))
            redis_url = stack.enter_context(redis_test_database(urls["REFLEX_REDIS_URL"]))
        else:
            db_url = stack.enter_context(temporary_database("sqlite"))
        migrate_to_head(db_url)
        if prepare is not None:
            prepare(db_url)
        mail = MailCatcher.start()
        stack.callback(mail.stop)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        workers = 2 if scale_out else 1
        env = app_environment(
            work_dir=work_dir, web_dir=work_dir / "web", data_dir=work_dir / "data", db_url=db_url,
            smtp_url=mail.url, public_url=url, redis_url=redis_url,
        )  # fmt: skip
        (work_dir / "data").mkdir(exist_ok=True)
        env.update(
            REFLEX_ENV_MODE="prod",
            ECONNECT_SECRET_KEY=secrets.token_urlsafe(48),
            REFLEX_USE_GRANIAN="true",
            GRANIAN_WORKERS=str(workers),
            # Thousands of sign-ins and requests from 127.0.0.1 within minutes: not what the limits are for.
            ECONNECT_RATE_LIMIT_SCALE="1000",
        )
        log_path = work_dir / "backend.log"
        reflex = str(PROJECT_ROOT / ".venv" / "bin" / "reflex")
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [reflex, "run", "--env", "prod", "--backend-only", "--backend-host", "127.0.0.1",
                 "--backend-port", str(port), "--loglevel", "warning"],  # fmt: skip
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(stop_process_tree, process)
        backend = Backend(
            url=url, db_url=db_url, workers=workers, database="postgresql" if scale_out else "sqlite",
            process=process, log_path=log_path,
        )  # fmt: skip
        _wait_until_answering(backend)
        yield backend


def _wait_until_answering(backend: Backend) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if backend.process.poll() is not None:
            raise BackendStartError(f"The backend exited with {backend.process.returncode}:\n{backend.log_tail()}")
        try:
            with urllib.request.urlopen(backend.url + "/ping", timeout=2) as response:  # noqa: S310 (loopback)
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)  # polling a starting process: there is nothing to wait on
    raise BackendStartError(f"The backend did not answer within {START_SECONDS} s:\n{backend.log_tail()}")
