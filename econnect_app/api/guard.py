"""Every /api/v1 call but the OpenAPI document needs connection keys: checked before routing, so
401 comes before 404 (or 405) for every path, and a caller without valid keys learns nothing about
which paths or organisations exist. Then the key set's rate limit: 429 with ``Retry-After``.

What the guard learns is kept on the request (``api_call``) for the handler and the access log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from econnect_app.api import responses
from econnect_app.api.auth import authenticated_key_set
from econnect_app.api.openapi import PUBLIC_PATHS
from econnect_app.api.rate_limit import KeySetRateLimit

API_CALL_SCOPE_KEY = "econnect.api_call"


@dataclass
class ApiCall:
    """What is known about one call (nothing secret): filled in as the call goes."""

    key_set_id: int | None = None
    app_key: str | None = None
    environment_id: int | None = None
    organisation_identifier: str | None = None


def route_path(scope: Scope) -> str:
    """The request path below the server's root path (if one is set)."""
    path: str = scope.get("path", "")
    root_path: str = scope.get("root_path", "")
    if root_path and path.startswith(root_path + "/"):
        return path[len(root_path) :]
    return path


def api_call(scope_or_request: Scope | Request) -> ApiCall:
    """The call's record (made on first use)."""
    scope = scope_or_request.scope if isinstance(scope_or_request, Request) else scope_or_request
    call = scope.get(API_CALL_SCOPE_KEY)
    if call is None:
        call = scope[API_CALL_SCOPE_KEY] = ApiCall()
    return call


class KeyGuard:
    """ASGI middleware of the API app: authenticate, then count the call against the key set."""

    def __init__(
        self, app: ASGIApp, *, engine_factory: Callable[[], Engine], rate_limit: Callable[[], KeySetRateLimit]
    ) -> None:
        self.app = app
        self.engine_factory = engine_factory
        self.rate_limit = rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_path(scope) in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        # The database and Redis are used synchronously: off the event loop.
        refusal = await run_in_threadpool(self._check, request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, request: Request) -> responses.JSONResponse | None:
        with Session(self.engine_factory(), expire_on_commit=False) as session:
            key_set = authenticated_key_set(session, request)
            if key_set is None:
                return responses.unauthorised()
            call = api_call(request)
            call.key_set_id, call.app_key, call.environment_id = (
                key_set.id,
                key_set.app_key,
                key_set.environment_id,
            )
        retry_after = self.rate_limit().hit(key_set.id or 0)
        if retry_after is not None:
            return responses.too_many_requests(retry_after)
        return None
