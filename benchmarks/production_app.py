"""The app in production mode for the benchmarks that need a browser or the whole server.

It reuses the end-to-end harness (``tests/e2e/live_app.py``): ``reflex run --env prod
--frontend-only`` builds and serves the frontend, backend processes (``reflex run --env prod
--backend-only``, one Granian worker each) sit behind one loopback address, everything on
127.0.0.1, mail to a real SMTP server of the caller's (``tests/e2e/mail_catcher.py``).

- default: one backend worker on a throw-away SQLite file (no Redis);
- ``scale_out=True``: two backend workers on a new PostgreSQL database (dropped afterwards) and a
  Redis database number of their own (flushed afterwards), the servers named by
  ``ECONNECT_TEST_DB_URL`` and ``ECONNECT_TEST_REDIS_URL`` (``make bench BENCH_SCALE_OUT=1`` sets
  both from ``scripts/services.sh``).

    with production_app(scale_out=False, smtp_url=catcher.url) as app:
        admin = add_basic_environment(app.db_url, organisations=3)
        ... app.base_url, app.db_url ...
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.support import PROJECT_ROOT

E2E_DIR = PROJECT_ROOT / "tests" / "e2e"
if str(E2E_DIR) not in sys.path:  # live_app, mail_catcher and backend_proxy import each other by name
    sys.path.insert(0, str(E2E_DIR))

from live_app import (  # noqa: E402
    E2E_PROD_WEB_WORKDIR,
    AppServer,
    claim_web_workdir,
    postgres_test_database,
    redis_test_database,
    start_scaled_app_server,
)
from mail_catcher import MailCatcher  # noqa: E402

__all__ = ["AppServer", "MailCatcher", "mail_catcher", "BenchAccount", "add_basic_environment", "production_app"]

STARTUP_TIMEOUT = 900  # s: the production build of the frontend (bun install on a fresh folder)
ADMIN_PASSWORD = "benchmark passphrase, long enough"
DB_VARIABLE, REDIS_VARIABLE = "ECONNECT_TEST_DB_URL", "ECONNECT_TEST_REDIS_URL"


@dataclass(frozen=True)
class BenchAccount:
    """An administrator of a Basic-plan environment, onboarding done."""

    email: str
    password: str
    user_id: int
    environment_id: int
    organisations: int


def describe(scale_out: bool) -> str:
    """One line for the reports."""
    if scale_out:
        return "production mode, PostgreSQL + Redis, 2 backend workers"
    return "production mode, SQLite, 1 backend worker"


def _scale_out_servers() -> tuple[str, str]:
    db_url, redis_url = os.environ.get(DB_VARIABLE, "").strip(), os.environ.get(REDIS_VARIABLE, "").strip()
    if not (db_url and redis_url):
        raise SystemExit(
            f"--scale-out needs {DB_VARIABLE} and {REDIS_VARIABLE} (PostgreSQL and Redis on 127.0.0.1): "
            "run `make bench BENCH_SCALE_OUT=1`, which starts them with scripts/services.sh"
        )
    return db_url, redis_url


@contextlib.contextmanager
def production_app(*, scale_out: bool, smtp_url: str) -> Iterator[AppServer]:
    """The running app (see the module's docstring); stopped, and its databases removed, afterwards."""
    work_dir = Path(tempfile.mkdtemp(prefix="econnect-bench-app-"))
    with contextlib.ExitStack() as resources:
        resources.callback(shutil.rmtree, work_dir, ignore_errors=True)
        web_dir = resources.enter_context(claim_web_workdir(fallback=work_dir / "web", workdir=E2E_PROD_WEB_WORKDIR))
        if scale_out:
            db_server, redis_server = _scale_out_servers()
            db_url = resources.enter_context(postgres_test_database(db_server))
            redis_url = resources.enter_context(redis_test_database(redis_server))
            backends: tuple[str, ...] = ("a", "b")
        else:
            db_url, redis_url, backends = f"sqlite:///{work_dir / 'data' / 'econnect.db'}", "", ("a",)
        print(f"starting the app ({describe(scale_out)}); the frontend's production build takes a while", flush=True)
        server = start_scaled_app_server(
            work_dir=work_dir,
            web_dir=web_dir,
            smtp_url=smtp_url,
            db_url=db_url,
            redis_url=redis_url,
            backend_names=backends,
            startup_timeout=STARTUP_TIMEOUT,
        )
        resources.callback(server.stop)  # runs first: the app goes before its databases
        yield server


@contextlib.contextmanager
def mail_catcher() -> Iterator[MailCatcher]:
    """A real SMTP server on 127.0.0.1 for the block; ``MailCatcher.latest`` (which the end-to-end
    flows read) is left as it was."""
    previous = MailCatcher.latest
    catcher = MailCatcher.start()
    try:
        yield catcher
    finally:
        catcher.stop()
        MailCatcher.latest = previous


def backend_pids(server: AppServer) -> list[int]:
    """The processes of every backend (server and Granian workers), e.g. for py-spy."""
    return [pid for backend in server.backends.values() for pid in backend.pids]


def add_basic_environment(db_url: str, *, organisations: int = 3) -> BenchAccount:
    """An environment on the Basic plan (it may send authorisation requests), onboarding done, with
    ``organisations`` activated organisations and one confirmed administrator (a new address on
    every call)."""
    import uuid

    from sqlmodel import Session

    from econnect_app import security
    from econnect_app.db import make_engine
    from econnect_app.models import Environment, Organisation, Plan, Role, User, utcnow

    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    kvk_base = 90_000_000 + uuid.uuid4().int % 9_000_000
    engine = make_engine(db_url, pooled=False)
    try:
        with Session(engine) as session:
            environment = Environment(name="Bench Boekhouding", plan=Plan.BASIC.value, onboarding_completed_at=utcnow())
            session.add(environment)
            session.flush()
            admin = User(
                environment_id=environment.id,  # type: ignore[arg-type]
                name="Bea Bench",
                email=email,
                password_hash=security.hash_password(ADMIN_PASSWORD),
                role=Role.ADMINISTRATOR.value,
                email_confirmed_at=utcnow(),
            )
            session.add(admin)
            session.flush()
            for number in range(1, organisations + 1):
                session.add(
                    Organisation(
                        environment_id=environment.id,  # type: ignore[arg-type]
                        name=f"Bench Organisatie {number} BV",
                        kvk_number=str(kvk_base + number),
                        identifier=security.new_public_identifier(),
                        activated_at=utcnow(),
                        created_by_id=admin.id,
                    )
                )
            session.commit()
            return BenchAccount(
                email=email,
                password=ADMIN_PASSWORD,
                user_id=admin.id,  # type: ignore[arg-type]
                environment_id=environment.id,  # type: ignore[arg-type]
                organisations=organisations,
            )
    finally:
        engine.dispose()


# --- the browser -----------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def launch_chromium(playwright: Any) -> Any:
    """Debian's headless Chromium (`make browser`), as the end-to-end tests launch it."""
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        raise SystemExit("Chromium is not installed: run `make browser`")
    return playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)


def log_in(page: Any, account: BenchAccount, *, timeout_ms: float = 60_000) -> None:
    """Log in through /login and wait for the dashboard."""
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(account.email)
    page.get_by_label("Password", exact=True).fill(account.password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/?$"), timeout=timeout_ms)
