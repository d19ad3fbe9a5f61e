"""The security headers on every answer of the backend (pages, API, the rest), the page CSP built
from the compiled frontend's inline scripts, and redirects that never trust the Host header."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from econnect_app.edge import http_edge
from econnect_app.security_headers import (
    LOCKED_DOWN_CSP,
    csp_hash,
    header_policy,
    inline_script_hashes,
    page_csp,
)

THEME_SCRIPT = b"\ndocument.documentElement.classList.add('light');\n"
MODULE_SCRIPT = b'import("/assets/entry.js");'


def sha256_source(script: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"


@pytest.fixture()
def build(tmp_path: Path) -> Path:
    """A compiled frontend: prerendered pages with inline scripts, and a script file."""
    static = tmp_path / "build" / "client"
    (static / "keys").mkdir(parents=True)
    page = (
        b"<!DOCTYPE html><html><head><script>" + THEME_SCRIPT + b"</script>"
        b'<script src="/assets/app.js"></script></head><body>'
        b'<script type="module" async="">' + MODULE_SCRIPT + b"</script></body></html>"
    )
    (static / "keys" / "index.html").write_bytes(page)
    (static / "index.html").write_bytes(b"<html><head><SCRIPT>" + THEME_SCRIPT + b"</SCRIPT></head></html>")
    (static / "app.js").write_bytes(b"console.log('app')")
    return static


def served(build: Path, *, public_url: str = "https://econnect.example.com") -> TestClient:
    """The edge around a stand-in for Reflex serving the compiled frontend (as production does)."""
    frontend = Starlette(routes=[Mount("/", app=StaticFiles(directory=build, html=True))])
    policy = header_policy(public_url=public_url, backend_url=public_url, static_dir=build)
    return TestClient(http_edge(frontend, policy=policy))


def test_every_inline_script_of_the_build_is_allowed_by_its_hash_and_nothing_else(build: Path) -> None:
    hashes = inline_script_hashes(build)

    assert hashes == tuple(sorted({sha256_source(THEME_SCRIPT), sha256_source(MODULE_SCRIPT)}))
    assert csp_hash(THEME_SCRIPT) == sha256_source(THEME_SCRIPT)


def test_the_page_policy_is_strict_where_the_frontend_allows() -> None:
    csp = page_csp(script_hashes=["'sha256-abc='"], backend_origins=["https://econnect.example.com"])
    directives = dict(directive.split(" ", 1) for directive in csp.split("; "))

    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self' 'unsafe-eval' 'sha256-abc='"  # no 'unsafe-inline'
    assert directives["connect-src"] == "'self' https://econnect.example.com wss://econnect.example.com"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'" and directives["base-uri"] == "'none'"


def test_pages_get_the_page_policy_and_the_other_headers(build: Path) -> None:
    answer = served(build).get("/keys/")

    assert answer.status_code == 200
    csp = answer.headers["content-security-policy"]
    assert sha256_source(THEME_SCRIPT) in csp and sha256_source(MODULE_SCRIPT) in csp
    assert (
        "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_everything_else_is_locked_down(build: Path) -> None:
    client = served(build)
    for answer in (
        client.get("/app.js"),
        client.get("/no-such-file.png"),
        client.get("/api/v1/openapi.json"),
    ):
        assert answer.headers["content-security-policy"] == LOCKED_DOWN_CSP
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_no_hsts_when_the_public_url_is_not_https(build: Path) -> None:
    answer = served(build, public_url="http://localhost:3000").get("/keys/")
    assert "strict-transport-security" not in answer.headers
    assert (
        "connect-src 'self' http://localhost:3000 ws://localhost:3000"
        in answer.headers["content-security-policy"]
    )


def test_a_redirect_never_points_at_the_host_header(build: Path) -> None:
    client = served(build)

    answer = client.get("/keys", headers={"Host": "evil.example"}, follow_redirects=False)

    assert answer.status_code in (301, 302, 307, 308)
    assert answer.headers["location"] == "/keys/"
