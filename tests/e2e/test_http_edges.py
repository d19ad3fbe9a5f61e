"""The HTTP edges of the real app: the production build served by the backend with its security
headers (Chromium runs the whole keys flow under the Content-Security-Policy without a single
violation), /dev/mailbox absent in production, CORS limited to the public URL, and API answers
that Reflex's own routing used to give (an encoded newline) or crashed on (non-ASCII credentials).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator

import httpx
import pytest
from flows import accountant_ready
from live_app import (
    E2E_PROD_WEB_WORKDIR,
    LOOPBACK,
    AppServer,
    E2EConfig,
    ManagedProcess,
    _reflex_executable,
    app_environment,
    claim_web_workdir,
    migrate,
    production_environment,
)
from mail_catcher import MailCatcher, free_port
from playwright.sync_api import Browser, ConsoleMessage, expect

from econnect_app.security_headers import LOCKED_DOWN_CSP

PROD_STARTUP_TIMEOUT = 600  # s: production mode builds the frontend first
ACTION_TIMEOUT_MS = 30_000
NAVIGATION_TIMEOUT_MS = 60_000
# The tests that wait for the production build (the first one starts it).
needs_production_build = pytest.mark.timeout(PROD_STARTUP_TIMEOUT + 300)

# Records every CSP violation of a page, from before its first script runs.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture(scope="module")
def production_app(smtp_server: MailCatcher, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """Production mode as `make run-prod` deploys it: `reflex run --env prod` with the frontend and
    the backend on ONE port (the backend serves the compiled frontend), one Granian worker, a
    fresh SQLite database. Not in the scale-out run: that run holds the production web folder,
    and its static frontend is served by a process of its own."""
    if E2EConfig.from_environment().scaled:
        pytest.skip("runs with the default e2e configuration (the scale-out run holds .web-e2e-prod)")
    work_dir = tmp_path_factory.mktemp("e2e-prod-single-port")
    data_dir = work_dir / "data"
    data_dir.mkdir()
    port = free_port(LOOPBACK)
    base_url = f"http://{LOOPBACK}:{port}"
    with claim_web_workdir(fallback=work_dir / "web", workdir=E2E_PROD_WEB_WORKDIR) as web_dir:
        server = AppServer(
            base_url=base_url,
            backend_url=base_url,
            db_url=f"sqlite:///{data_dir / 'econnect.db'}",
            data_dir=data_dir,
            log_path=work_dir / "app.log",
            web_dir=web_dir,
            mode="prod",
        )
        env = production_environment(
            app_environment(
                work_dir=work_dir, web_dir=web_dir, data_dir=data_dir, db_url=server.db_url,
                smtp_url=smtp_server.url, public_url=base_url,
            ),
            api_url=base_url,
        )  # fmt: skip
        reflex = _reflex_executable()
        migrate(reflex, env, server.log_path, 180, server)
        process = ManagedProcess(
            name="production app",
            command=[
                reflex, "run", "--env", "prod", "--frontend-port", str(port), "--backend-port", str(port),
                "--backend-host", LOOPBACK, "--loglevel", "info",
            ],
            env=env,
            log_path=server.log_path,
            ready_url=base_url + "/login",
        )  # fmt: skip
        server.frontend = process
        try:
            process.start()
            process.wait_until_ready(PROD_STARTUP_TIMEOUT)
            yield server
        finally:
            process.stop()
            if web_dir != E2E_PROD_WEB_WORKDIR:
                shutil.rmtree(web_dir, ignore_errors=True)


def _directives(csp: str) -> dict[str, str]:
    return dict((directive.split(" ", 1) + [""])[:2] for directive in csp.split("; "))  # type: ignore[misc]


@needs_production_build
def test_production_pages_and_api_carry_the_security_headers(production_app: AppServer) -> None:
    with httpx.Client(base_url=production_app.base_url, timeout=30) as http:
        page = http.get("/login", follow_redirects=True)
        api = http.get("/api/v1/openapi.json")
        mailbox = http.get("/dev/mailbox")
        redirect = http.get("/keys", headers={"Host": "evil.example"}, follow_redirects=False)

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = _directives(page.headers["content-security-policy"])
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"] and "'sha256-" in csp["script-src"]
    assert production_app.base_url in csp["connect-src"]
    for answer in (page, api):
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in answer.headers  # the public URL is http (loopback)
    assert api.headers["content-security-policy"] == LOCKED_DOWN_CSP
    # The development mailbox does not exist in production.
    assert mailbox.status_code == 404
    # Static pages redirect to their folder (/keys -> /keys/): relative, whatever the Host header says.
    assert redirect.status_code == 307 and redirect.headers["location"] == "/keys/"
    # The API's access log is printed with the server's log.
    assert "api GET /api/v1/openapi.json status=200 " in production_app.log_path.read_text()


@needs_production_build
def test_the_keys_flow_runs_under_the_content_security_policy(
    production_app: AppServer, browser: Browser, unique_email: Callable[[str], str]
) -> None:
    context = browser.new_context(base_url=production_app.base_url, viewport={"width": 1280, "height": 900}, locale="en-GB")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    context.add_init_script(RECORD_CSP_VIOLATIONS)
    console: list[str] = []
    try:
        page = context.new_page()
        page.on("console", lambda message: _note_csp_console(message, console))
        accountant_ready(
            page, email=unique_email("csp"), name="Anna de Vries", firm="Strict Accountants", kvk="47654321"
        )
        page.goto("/keys")
        page.get_by_role("button", name="Create key set").click()  # a websocket event; the Secret
        key_set = page.get_by_role("region", name="Key set Default")  # is pushed with eval
        expect(key_set.get_by_label("Secret", exact=True)).to_have_value(re.compile(r"^sk_"))
        key_set.get_by_role("button", name="Copy App key").click()
        expect(page.get_by_text("Copied")).to_be_visible()  # a toast: a script the server sent
        violations = page.evaluate("window.__cspViolations")
    finally:
        context.close()
    assert violations == [] and console == []


def _note_csp_console(message: ConsoleMessage, found: list[str]) -> None:
    if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
        found.append(message.text)


# --- the development (or scale-out) app of the session ------------------------------------------


def test_the_backend_answers_cors_for_the_public_url_only(app_server: AppServer) -> None:
    with httpx.Client(timeout=30) as http:
        own = http.get(f"{app_server.backend_url}/ping", headers={"Origin": app_server.base_url})
        foreign = http.get(f"{app_server.backend_url}/ping", headers={"Origin": "https://evil.example"})
    assert own.headers.get("access-control-allow-origin") == app_server.base_url
    assert "access-control-allow-origin" not in foreign.headers


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/organisations/abc%0Adef",
        "/api/v1/organisations/%0A",
        "/api/v1/nothing",
        "/api/v1/organisations/x/",
    ],
)
def test_every_api_answer_of_the_real_backend_is_json_and_401_comes_first(
    app_server: AppServer, path: str
) -> None:
    answer = httpx.get(app_server.backend_url + path, timeout=30, follow_redirects=False)
    assert answer.status_code == 401, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_non_ascii_basic_credentials_are_refused_with_401(app_server: AppServer) -> None:
    answer = httpx.get(
        app_server.backend_url + "/api/v1/organisations/abc",
        headers=[(b"Authorization", "Basic äöü".encode("latin-1"))],
        timeout=30,
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"].startswith("Missing or invalid connection keys")
