"""The /api/v1 ASGI app and how it joins the Reflex backend (``rx.App(api_transformer=...)``)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from econnect_app.api import responses
from econnect_app.api.openapi import API_PREFIX, openapi_document
from econnect_app.api.organisations import get_organisation
from econnect_app.db import get_engine


def _openapi_json(_request: Request) -> JSONResponse:
    return JSONResponse(openapi_document())


def create_api_app(*, engine_factory: Callable[[], Engine] = get_engine) -> Starlette:
    """The API app; every request opens its own database session on ``engine_factory()``."""
    app = Starlette(
        routes=[
            Route(f"{API_PREFIX}/openapi.json", _openapi_json, methods=["GET"]),
            Route(
                f"{API_PREFIX}/organisations/{{organisation_identifier}}",
                get_organisation,
                methods=["GET"],
            ),
        ],
        exception_handlers={
            HTTPException: responses.http_exception_handler,
            Exception: responses.server_error_handler,
        },
        max_body_size=1024 * 1024,
    )
    app.state.engine_factory = engine_factory
    return app


def _route_path(scope: Scope) -> str:
    """The request path below the server's root path (if one is set)."""
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


def is_api_path(path: str) -> bool:
    """Whether a request path belongs to the API."""
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


api_app: Starlette = create_api_app()


def mount_api(backend: ASGIApp, *, api: ASGIApp | None = None) -> ASGIApp:
    """Wrap the Reflex backend: /api/v1 requests go to the API, everything else to Reflex.

    Use as ``rx.App(api_transformer=mount_api)``. A function (rather than the Starlette app
    itself) keeps ``api_app`` untouched, so building the backend twice mounts nothing twice.
    ``api`` replaces ``api_app`` (tests serve one bound to their own database).
    """
    api_target = api if api is not None else api_app

    async def dispatch(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_api_path(_route_path(scope)):
            await api_target(scope, receive, send)
        else:
            await backend(scope, receive, send)

    return dispatch
