"""The /api/v1 ASGI app, and how requests reach it (``mount_api``, used by ``econnect_app.edge``).

Layers, outermost first: the access log (one line per call), the key guard (401 before anything
else, then the key set's rate limit: 429), the body limit (413 in JSON past 1 MB; a document upload
enforces the document size itself, after 404 / 403), the routes (JSON 404 and 405; no redirects: a
trailing slash answers 404 rather than a redirect built from the request's ``Host`` header).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from econnect_app.api import responses
from econnect_app.api.access_log import AccessLog
from econnect_app.api.body_limit import BodyLimit
from econnect_app.api.documents import documents_endpoint
from econnect_app.api.guard import KeyGuard, route_path
from econnect_app.api.openapi import API_PREFIX, OPENAPI_PATH, openapi_document
from econnect_app.api.organisations import get_organisation
from econnect_app.api.rate_limit import KeySetRateLimit, limits_storage
from econnect_app.db import get_engine
from econnect_app.settings import get_settings


def _openapi_json(_request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


MAX_BODY_BYTES = 1024 * 1024  # every call but a document upload (which allows a document's size)
DOCUMENTS_PATH = f"{API_PREFIX}/organisations/{{organisation_identifier}}/documents"


def _is_document_upload(scope: Scope) -> bool:
    """A POST to an organisation's documents: its handler enforces the document size limit itself."""
    path = route_path(scope)
    return (
        scope.get("method") == "POST"
        and path.startswith(f"{API_PREFIX}/organisations/")
        and path.endswith("/documents")
    )


def _rate_limit_from_settings() -> KeySetRateLimit:
    settings = get_settings()
    return KeySetRateLimit(settings.api_rate_limit, limits_storage(settings.redis_url))


def create_api_app(
    *,
    engine_factory: Callable[[], Engine] = get_engine,
    rate_limit: Callable[[], KeySetRateLimit] = _rate_limit_from_settings,
) -> Starlette:
    """The API app; every request opens its own database sessions on ``engine_factory()``, and
    counts calls in ``rate_limit()`` (made on first use; the settings' limit by default)."""
    made: list[KeySetRateLimit] = []

    def shared_rate_limit() -> KeySetRateLimit:
        if not made:
            made.append(rate_limit())
        return made[0]

    app = Starlette(
        routes=[
            Route(OPENAPI_PATH, _openapi_json, methods=["GET"]),
            Route(
                f"{API_PREFIX}/organisations/{{organisation_identifier}}",
                get_organisation,
                methods=["GET"],
            ),
            Route(DOCUMENTS_PATH, documents_endpoint, methods=["GET", "POST"]),
        ],
        middleware=[
            Middleware(AccessLog),
            Middleware(KeyGuard, engine_factory=engine_factory, rate_limit=shared_rate_limit),
            Middleware(BodyLimit, max_body_bytes=MAX_BODY_BYTES, reads_own_body=_is_document_upload),
        ],
        exception_handlers={
            HTTPException: responses.http_exception_handler,
            Exception: responses.server_error_handler,
        },
    )
    app.router.redirect_slashes = False
    app.state.engine_factory = engine_factory
    return app


def is_api_path(path: str) -> bool:
    """Whether a request path belongs to the API."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


api_app: Starlette = create_api_app()


def mount_api(backend: ASGIApp, *, api: ASGIApp | None = None) -> ASGIApp:
    """Wrap the Reflex backend: /api/v1 requests go to the API, everything else to Reflex.

    ``econnect_app.edge`` puts it outside Reflex's own routing (which answers a path holding a
    newline with a plain-text 404 before any app code runs), so every /api/v1 answer is the
    API's. A function (rather than the Starlette app itself) keeps ``api_app`` untouched, so
    building the backend twice mounts nothing twice. ``api`` replaces ``api_app`` (tests serve
    one bound to their own database).
    """
    api_target = api if api is not None else api_app

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api_path(route_path(scope)):
            await api_target(scope, receive, send)
        else:
            await backend(scope, receive, send)

    return dispatch
