"""End-to-end fixtures: the real app (`reflex run`) with a real SMTP server, driven by Chromium.

Writing a flow takes little code:

    def test_forgot_password(page: Page, app_server, mailbox, unique_email, app_db):
        email = unique_email("ann")                      # ann-1a2b3c4d@example.com
        ...sign up through the UI...
        page.goto("/forgot-password")                    # base_url is the app's frontend
        page.get_by_label("Email").fill(email)
        page.get_by_role("button", name="Send reset link").click()
        message = mailbox.wait_for_email(email, subject_contains="password")
        page.goto(message.link_to("/reset-password/"))   # the real emailed link
        ...
        with app_db() as session:                       # a fresh session: sees the latest commits
            assert session.exec(select(User).where(User.email == email)).one().password_hash

Fixtures:
- `smtp_server` (session): a MailCatcher (aiosmtpd on 127.0.0.1); the app delivers to it.
- `mailbox` (function): the same object; `mailbox.wait_for_email(to, subject_contains="", timeout=30)`
  returns the next message to `to` not returned before (`.subject .text .html .links .link_to()`);
  the `wait_for_email` fixture is that method on its own.
- `app_server` (session): the running app (`.base_url .backend_url .db_url .data_dir .log_path`).
  Which app depends on ECONNECT_TEST_DB_URL, ECONNECT_TEST_REDIS_URL and ECONNECT_E2E_WORKERS (see
  live_app.py; the pytest header says which): by default dev mode on SQLite. With
  ECONNECT_E2E_WORKERS=2 it is production mode with backends "a" and "b" behind one proxy
  (`app_server.scaled`, `.proxy`, `.user_agent(name)`, `.terminate_backend(name)`,
  `.start_backend(name)`), and `new_context()` puts successive browser contexts of a test on
  alternating backends (a, b, a, ...), so multi-person flows cross workers; pass
  `user_agent=app_server.user_agent("b")` to choose.
- `app_db` (function): `with app_db() as session:` opens a Session on the app's database.
- `browser` (session), `context` / `page` (function, base_url = the app), `new_context()` (function)
  for a second person in another browser; all contexts are closed after the test. On failure a
  screenshot of every open page and a Playwright trace go to test-results/ (open the trace with
  `.venv/bin/playwright show-trace test-results/<name>.zip`), and the app log's tail is added to
  the report.
- `unique_email(name)`: a fresh address per call, so tests never see each other's mail or users.

Every test in this folder is marked `e2e` (`pytest -m "not e2e"` skips them).
Set E2E_HEADED=1 to watch the browser (needs a display).
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import pytest
from live_app import (
    E2E_PROD_WEB_WORKDIR,
    E2E_WEB_WORKDIR,
    PROJECT_ROOT,
    AppServer,
    E2EConfig,
    E2EConfigError,
    claim_web_workdir,
    postgres_test_database,
    redis_test_database,
    start_app_server,
    start_scaled_app_server,
)
from mail_catcher import MailCatcher, ReceivedEmail
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy.engine import Engine
from sqlmodel import Session

from econnect_app.db import make_engine

__all__ = ["AppServer", "MailCatcher", "ReceivedEmail"]

E2E_DIR = Path(__file__).resolve().parent
RESULTS_DIR = PROJECT_ROOT / "test-results"
APP_STARTUP_TIMEOUT = 240  # s: the first run compiles the app and runs `bun install`
PROD_STARTUP_TIMEOUT = 600  # s: production mode also builds the frontend (a fresh .web-e2e-prod: bun install)
E2E_TEST_TIMEOUT = 300  # s per test, plus the app's start-up: the first test also waits for the app
EXPECT_TIMEOUT_MS = 20_000  # dev mode compiles pages on first visit
ACTION_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_RUNNING_APP = pytest.StashKey[AppServer]()


# --- marking, reports, screenshots ---------------------------------------------------------------


def _is_e2e(item: pytest.Item) -> bool:
    return E2E_DIR in item.path.parents


def e2e_config() -> E2EConfig:
    """The configuration the environment asks for (pytest usage error when it is inconsistent)."""
    try:
        return E2EConfig.from_environment()
    except E2EConfigError as error:
        raise pytest.UsageError(str(error)) from None


def pytest_report_header(config: pytest.Config) -> str:
    """Say which app the end-to-end tests run against."""
    return e2e_config().describe()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test in this folder `e2e`, with a timeout that allows for the first compile."""
    startup = PROD_STARTUP_TIMEOUT if e2e_config().scaled else APP_STARTUP_TIMEOUT
    for item in items:
        if _is_e2e(item):
            item.add_marker(pytest.mark.e2e)
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(startup + E2E_TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the item (fixtures read it) and add the app log on failure."""
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    app = item.config.stash.get(_RUNNING_APP, None)
    if report.failed and _is_e2e(item) and app is not None:
        report.sections.append((f"app log (last lines of {app.log_path})", app.log_tail(60)))
    return report


def _failed(node: pytest.Item) -> bool:
    return any(report.failed for report in node.stash.get(_REPORTS, {}).values())


def _artifact_name(node: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node.nodeid.split("::", 1)[-1]).strip("-")[:120]


# --- mail ----------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[MailCatcher]:
    """A real SMTP server on 127.0.0.1:<free port> that keeps every message it receives."""
    catcher = MailCatcher.start()
    yield catcher
    catcher.stop()


@pytest.fixture()
def mailbox(smtp_server: MailCatcher) -> MailCatcher:
    """The SMTP server's messages: `mailbox.wait_for_email(to, subject_contains=..., timeout=30)`."""
    return smtp_server


@pytest.fixture()
def wait_for_email(smtp_server: MailCatcher) -> Callable[..., ReceivedEmail]:
    """`wait_for_email(to, subject_contains="", timeout=30)`: the next message to `to`."""
    return smtp_server.wait_for_email


@pytest.fixture()
def unique_email() -> Callable[[str], str]:
    """`unique_email("ann")` -> "ann-1a2b3c4d@example.com", different on every call."""

    def make(name: str = "user") -> str:
        return f"{name}-{uuid.uuid4().hex[:8]}@example.com"

    return make


# --- the app -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def app_server(
    smtp_server: MailCatcher, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[AppServer]:
    """The real app on free ports with a fresh migrated database and mail delivered to
    `smtp_server`: dev mode on SQLite by default, or what ECONNECT_TEST_DB_URL,
    ECONNECT_TEST_REDIS_URL and ECONNECT_E2E_WORKERS ask for (see live_app.py). Stopped (with
    everything it started) at the end of the session; its PostgreSQL database is dropped and its
    Redis database flushed."""
    config = e2e_config()
    work_dir = tmp_path_factory.mktemp("e2e-app")
    workdir = E2E_PROD_WEB_WORKDIR if config.scaled else E2E_WEB_WORKDIR
    with ExitStack() as resources:
        atexit.register(resources.close)  # should pytest itself be interrupted hard
        web_dir = resources.enter_context(claim_web_workdir(fallback=work_dir / "web", workdir=workdir))
        if web_dir != workdir:  # a one-off web folder (another run held the shared one)
            resources.callback(shutil.rmtree, web_dir, ignore_errors=True)
        db_url = redis_url = None
        if config.db_server_url:
            db_url = resources.enter_context(postgres_test_database(config.db_server_url))
        if config.redis_server_url:
            redis_url = resources.enter_context(redis_test_database(config.redis_server_url))
        if config.scaled:
            server = start_scaled_app_server(
                work_dir=work_dir, web_dir=web_dir, smtp_url=smtp_server.url,
                db_url=db_url or f"sqlite:///{work_dir / 'data' / 'econnect.db'}", redis_url=redis_url or "",
                startup_timeout=PROD_STARTUP_TIMEOUT,
            )  # fmt: skip
        else:
            server = start_app_server(
                work_dir=work_dir, web_dir=web_dir, smtp_url=smtp_server.url, db_url=db_url, redis_url=redis_url,
                startup_timeout=APP_STARTUP_TIMEOUT,
            )  # fmt: skip
        resources.callback(server.stop)  # runs first: the app goes before its databases
        pytestconfig.stash[_RUNNING_APP] = server
        try:
            yield server
        finally:
            del pytestconfig.stash[_RUNNING_APP]


@pytest.fixture(scope="session")
def app_engine(app_server: AppServer) -> Iterator[Engine]:
    """An engine on the app's own database."""
    engine = make_engine(app_server.db_url)
    yield engine
    engine.dispose()


@pytest.fixture()
def app_db(app_engine: Engine) -> Callable[[], AbstractContextManager[Session]]:
    """`with app_db() as session:` a new Session on the app's database (each one sees the app's
    latest commits; a session kept open across UI steps would read an old snapshot)."""

    def open_session() -> AbstractContextManager[Session]:
        return Session(app_engine, expire_on_commit=False)

    return open_session


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API for the session."""
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium (`make browser` installs it; `playwright install` cannot download here)."""
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Chromium is not installed: run `make browser` (or `make test`).", pytrace=False)
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    browser = playwright.chromium.launch(
        executable_path=executable, headless=os.environ.get("E2E_HEADED") != "1", args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def _warm_app(browser: Browser, app_server: AppServer) -> None:
    """Visit the app once, so the dev server's first compile (and its dependency optimisation,
    which reloads the page) happens before any test runs."""
    context = browser.new_context(base_url=app_server.base_url)
    try:
        page = context.new_page()
        page.goto("/", wait_until="networkidle", timeout=APP_STARTUP_TIMEOUT * 1000)
    finally:
        context.close()


@pytest.fixture()
def new_context(
    browser: Browser, app_server: AppServer, _warm_app: None, request: pytest.FixtureRequest
) -> Iterator[Callable[..., BrowserContext]]:
    """A factory of fresh browser contexts (separate cookies: another person) on the app.

    Keyword arguments go to `browser.new_context` (base_url defaults to the app)."""
    contexts: list[BrowserContext] = []
    backends = itertools.cycle(sorted(app_server.backends))

    def make(**options: Any) -> BrowserContext:
        options.setdefault("base_url", app_server.base_url)
        options.setdefault("viewport", {"width": 1280, "height": 900})
        # English, whatever the machine's own language: the suite reads SPEC.md's English labels
        # (test_dutch.py opens a Dutch browser).
        options.setdefault("locale", "en-GB")
        if app_server.scaled:  # successive people of a test on alternating backends
            options.setdefault("user_agent", app_server.user_agent(next(backends)))
        context = browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        context.tracing.start(screenshots=True, snapshots=True)
        contexts.append(context)
        return context

    yield make

    failed = _failed(request.node)
    name = _artifact_name(request.node)
    if failed:
        RESULTS_DIR.mkdir(exist_ok=True)
    for index, context in enumerate(contexts):
        suffix = "" if len(contexts) == 1 else f"-context{index + 1}"
        try:
            if failed:
                for page_index, page in enumerate(context.pages):
                    page_suffix = "" if len(context.pages) == 1 else f"-page{page_index + 1}"
                    page.screenshot(path=RESULTS_DIR / f"{name}{suffix}{page_suffix}.png", full_page=True)
                context.tracing.stop(path=RESULTS_DIR / f"{name}{suffix}.zip")
            else:
                context.tracing.stop()
        except Exception as error:  # noqa: BLE001 (a broken page must not hide the real failure)
            print(f"Could not save the artifacts of {name}{suffix}: {error}")
        finally:
            context.close()


@pytest.fixture()
def context(new_context: Callable[..., BrowserContext]) -> BrowserContext:
    """A fresh browser context whose base_url is the app's frontend."""
    return new_context()


@pytest.fixture()
def page(context: BrowserContext) -> Page:
    """A page in `context`; `page.goto("/login")` opens the app."""
    return context.new_page()
