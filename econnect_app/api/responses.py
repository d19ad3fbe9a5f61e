"""JSON answers of the API: data, or ``{"error": "..."}`` with the right status code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from econnect_app.api.auth import WWW_AUTHENTICATE

# Answers carry client data or refer to keys: never cache them.
NO_STORE = {"Cache-Control": "no-store"}
UNAUTHORISED_MESSAGE = "Missing or invalid connection keys. Use the App key and Secret as HTTP Basic credentials."
FORBIDDEN_MESSAGE = "Your connection keys do not give access to this organisation."
NOT_FOUND_MESSAGE = "No organisation has this identifier."


def json_data(data: Mapping[str, Any], status_code: int = 200) -> JSONResponse:
    """A successful JSON answer."""
    return JSONResponse(dict(data), status_code=status_code, headers=NO_STORE)


def json_error(status_code: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error answer: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status_code, headers={**NO_STORE, **(headers or {})})


def unauthorised() -> JSONResponse:
    """401 with the challenge that tells clients to send Basic credentials."""
    return json_error(401, UNAUTHORISED_MESSAGE, {"WWW-Authenticate": WWW_AUTHENTICATE})


def http_exception_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (unknown path, wrong method) in the API's JSON error shape."""
    assert isinstance(exc, HTTPException)
    message = {404: "Not found.", 405: "Method not allowed."}.get(exc.status_code, str(exc.detail))
    return json_error(exc.status_code, message, exc.headers)


def server_error_handler(_request: Request, _exc: Exception) -> JSONResponse:
    """Unexpected failures: a plain message, no internals."""
    return json_error(500, "Something went wrong on our side. Please try again later.")
