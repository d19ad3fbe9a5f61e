"""The security headers of every HTTP answer the backend gives: pages, API and the rest.

- ``Content-Security-Policy``. Pages (HTML): scripts only from the app's own origin, plus the
  inline scripts of the compiled frontend, allowed one by one by their SHA-256 hashes (read from
  the build, see ``inline_script_hashes``); ``'unsafe-eval'`` because Reflex runs the scripts the
  server sends (toasts, copying to the clipboard) with ``eval``; styles inline too (Emotion and
  Radix write them at run time); connections to the app's own origin and the backend's websocket.
  Everything else (API answers, scripts, styles, images): ``default-src 'none'``.
  Always ``frame-ancestors 'none'``.
- ``X-Frame-Options: DENY`` (older browsers): nothing may frame ``/activate/<token>`` or ``/keys``.
- ``X-Content-Type-Options: nosniff``.
- ``Referrer-Policy: no-referrer``: emailed links carry their tokens in the path.
- ``Strict-Transport-Security`` when the public URL is https.

An absolute ``Location`` that points at the request's own ``Host`` (a redirect Starlette built
from that header, such as ``/keys`` -> ``/keys/`` for a static page) is made relative, so a forged
``Host`` header cannot turn it into a redirect to another site.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econnect_app.production import public_origin

HSTS_MAX_AGE_SECONDS = 365 * 24 * 3600
LOCKED_DOWN_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# An inline script of a prerendered page: a <script> without src (the build writes no "</script>"
# inside one). Browsers hash exactly the text between the tags.
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\ssrc\s*=)[^>]*>(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)


def csp_hash(script: bytes) -> str:
    """The CSP source expression that allows exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"


@functools.cache
def inline_script_hashes(static_dir: Path) -> tuple[str, ...]:
    """The hashes of every inline script of the compiled pages under ``static_dir`` (read once per
    process: the build does not change under a running server)."""
    hashes: set[str] = set()
    if static_dir.is_dir():
        for page in sorted(static_dir.rglob("*.html")):
            hashes.update(csp_hash(script) for script in _INLINE_SCRIPT.findall(page.read_bytes()))
    return tuple(sorted(hashes))


def websocket_origin(origin: str) -> str:
    """``ws://host`` for ``http://host``, ``wss://host`` for ``https://host``."""
    return "ws" + origin.removeprefix("http")


def page_csp(*, script_hashes: Iterable[str], backend_origins: Iterable[str]) -> str:
    """The Content-Security-Policy of the app's pages."""
    hashes = " ".join(script_hashes)
    connect = " ".join(
        dict.fromkeys(source for origin in backend_origins for source in (origin, websocket_origin(origin)))
    )
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'unsafe-eval' {hashes}".rstrip(),
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        f"connect-src 'self' {connect}".rstrip(),
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
    return "; ".join(directives)


@dataclass(frozen=True)
class HeaderPolicy:
    """The headers to set: ``page_csp`` for HTML answers, ``LOCKED_DOWN_CSP`` for the others."""

    page_csp: str
    hsts: bool

    def headers_for(self, content_type: str) -> dict[str, str]:
        """The security headers of an answer of ``content_type``."""
        is_page = content_type.split(";", 1)[0].strip().lower() == "text/html"
        headers = {
            "Content-Security-Policy": self.page_csp if is_page else LOCKED_DOWN_CSP,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if self.hsts:
            headers["Strict-Transport-Security"] = f"max-age={HSTS_MAX_AGE_SECONDS}"
        return headers


def header_policy(*, public_url: str, backend_url: str, static_dir: Path | None) -> HeaderPolicy:
    """The policy for an app served at ``public_url`` whose frontend talks to ``backend_url`` and
    whose compiled pages are in ``static_dir`` (None: it serves none)."""
    origins = [origin for origin in (public_origin(public_url), public_origin(backend_url)) if origin]
    hashes = inline_script_hashes(static_dir.resolve()) if static_dir is not None else ()
    return HeaderPolicy(
        page_csp=page_csp(script_hashes=hashes, backend_origins=origins),
        hsts=urlsplit(public_url).scheme.lower() == "https",
    )


def _relative_location(location: str, request_headers: Headers) -> str:
    """``location`` without scheme and host when they are the request's own ``Host``."""
    parts = urlsplit(location)
    host = request_headers.get("host", "")
    if parts.scheme.lower() in ("http", "https") and parts.netloc and parts.netloc.lower() == host.lower():
        path = parts.path if parts.path.startswith("/") else "/" + parts.path
        return (
            path
            + (f"?{parts.query}" if parts.query else "")
            + (f"#{parts.fragment}" if parts.fragment else "")
        )
    return location


class SecurityHeaders:
    """ASGI middleware: the policy's headers on every HTTP answer (replacing any of the same name),
    and redirects to the request's own host made relative. ``policy`` is asked on first use."""

    def __init__(self, app: ASGIApp, policy: Callable[[], HeaderPolicy]) -> None:
        self.app = app
        self._policy_factory = policy
        self._policy: HeaderPolicy | None = None

    @property
    def policy(self) -> HeaderPolicy:
        if self._policy is None:
            self._policy = self._policy_factory()
        return self._policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.policy.headers_for(headers.get("content-type", "")).items():
                    headers[name] = value
                if "location" in headers:
                    headers["location"] = _relative_location(headers["location"], request_headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
