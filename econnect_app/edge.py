"""The backend as served: what wraps Reflex's whole ASGI app, pages (production serves the compiled
frontend from the backend), websocket and API alike.

``EConnectApp`` is ``rx.App`` whose ASGI app (``app()``, what Granian serves) is wrapped by
``http_edge``: /api/v1 goes to the API before Reflex's own routing sees it (that routing answers a
path with an encoded newline with a plain-text 404), everything else to Reflex, and every HTTP
answer gets the security headers (``security_headers.py``).
"""

from __future__ import annotations

from pathlib import Path

import reflex as rx
from reflex import constants
from reflex.config import get_config
from reflex.utils import prerequisites
from starlette.types import ASGIApp

from econnect_app.api import mount_api
from econnect_app.api.access_log import print_access_log
from econnect_app.security_headers import HeaderPolicy, SecurityHeaders, header_policy
from econnect_app.settings import get_settings


def compiled_frontend_dir() -> Path:
    """Where the production build of the frontend is (served by the backend in production)."""
    return prerequisites.get_web_dir() / constants.Dirs.STATIC / get_config().frontend_path.strip("/")


def policy_from_settings() -> HeaderPolicy:
    """The header policy of this server: its public URL, the backend URL the frontend was built
    with, and the inline scripts of the compiled frontend."""
    return header_policy(
        public_url=get_settings().public_url,
        backend_url=get_config().api_url,
        static_dir=compiled_frontend_dir(),
    )


def http_edge(backend: ASGIApp, *, api: ASGIApp | None = None, policy: HeaderPolicy | None = None) -> ASGIApp:
    """``backend`` (Reflex's ASGI app) with the API mounted in front of it and the security headers
    on every answer. ``api`` and ``policy`` replace the defaults (tests)."""
    return SecurityHeaders(mount_api(backend, api=api), (lambda: policy) if policy else policy_from_settings)


class EConnectApp(rx.App):
    """``rx.App`` served through ``http_edge``."""

    def __call__(self) -> ASGIApp:
        """The backend's ASGI app, wrapped (and the API's access log printed)."""
        print_access_log()
        return http_edge(super().__call__())
