"""The size of request bodies under /api/v1, answered in the API's JSON like every other refusal.

Inside the key guard (so ``401`` still comes first): a body larger than ``max_body_bytes`` is
refused with ``413`` when ``Content-Length`` says so (before anything is read), or as soon as the
streamed body passes the limit. Routes that take large bodies (a document upload) enforce their
own limit and are left alone (``reads_own_body``), so they can answer ``404`` / ``403`` first.

(Starlette's own ``max_body_size`` answers in plain text and, placed around the whole app, would
replace even a ``401`` with it.)
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econnect_app.api import responses


class BodyLimit:
    """ASGI middleware: at most ``max_body_bytes`` of request body, but where ``reads_own_body(scope)``."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, reads_own_body: Callable[[Scope], bool]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.reads_own_body = reads_own_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.reads_own_body(scope):
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await responses.json_error(413, responses.BODY_TOO_LARGE_MESSAGE)(scope, receive, send)
            return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    # Raised inside the route: the API's exception handler answers it in JSON.
                    raise HTTPException(413, responses.BODY_TOO_LARGE_MESSAGE)
            return message

        await self.app(scope, receive_within_limit, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
