"""One log line per /api/v1 call (logger ``econnect.api``): method, path, status, duration, the
key set (id and App key) and the organisation identifier. Never the Secret or the Authorization
header; nothing of the credentials of a call that failed to authenticate (a user may have typed
the Secret where the App key goes). Values are quoted when they hold anything but plain
characters, so a crafted path cannot forge a log line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from econnect_app.api.guard import api_call

logger = logging.getLogger("econnect.api")
_PLAIN = re.compile(r"^[A-Za-z0-9_\-./:{}]{1,200}$")
_MAX_LOGGED_LENGTH = 200


def print_access_log() -> None:
    """Print the access log on standard output, next to Granian's own log (the server's root logger
    is left unconfigured, so INFO lines would go nowhere). Called once the backend starts; a
    deployment that configured the logger itself keeps its configuration."""
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def log_value(value: object) -> str:
    """``value`` as one token of a log line: as it is when plain, else JSON-quoted (ASCII only,
    control characters escaped) and cut to a bounded length; ``-`` for none."""
    if value is None or value == "":
        return "-"
    text = str(value)
    if _PLAIN.match(text):
        return text
    return json.dumps(text[:_MAX_LOGGED_LENGTH], ensure_ascii=True)


class AccessLog:
    """ASGI middleware: logs each HTTP call once its answer has been sent (or has failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            call = api_call(scope)
            logger.info(
                "api %s %s status=%d duration_ms=%.1f key_set=%s app_key=%s organisation=%s",
                log_value(scope.get("method")),
                log_value(scope.get("path")),
                status,
                (time.perf_counter() - started) * 1000,
                log_value(call.key_set_id),
                log_value(call.app_key),
                log_value(call.organisation_identifier),
            )
