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
UNAUTHORISED_MESSAGE = (
    "Missing or invalid connection keys. Use the App key and Secret as HTTP Basic credentials."
)
FORBIDDEN_MESSAGE = "Your connection keys do not give access to this organisation."
NOT_AN_IDENTIFIER_MESSAGE = (
    "This is not an organisation identifier. Use the Organisation identifier from the Connection keys page."
)
NOT_FOUND_MESSAGE = "Not found. See /api/v1/openapi.json for the paths of this API."
TRAILING_SLASH_MESSAGE = "Not found. API paths do not end with a slash: remove it."
METHOD_NOT_ALLOWED_MESSAGE = "Method not allowed."
SERVER_ERROR_MESSAGE = "Something went wrong on our side. Please try again later."
BODY_TOO_LARGE_MESSAGE = "The request body is too large."
# Documents (api/documents.py).
NOT_MULTIPART_MESSAGE = (
    'Send the document as multipart/form-data with the fields "file" (a PDF or UBL 2.1 XML file) and "kind" '
    '("invoice" or "statement").'
)
BAD_MULTIPART_MESSAGE = "The request body is not valid multipart/form-data."
ONE_FILE_MESSAGE = 'Send one document per call: the form holds more than one "file".'
PAGING_MESSAGE = "page must be a whole number from 1, and per_page a whole number from 1 to 100."


def json_data(data: Mapping[str, Any], status_code: int = 200) -> JSONResponse:
    """A successful JSON answer."""
    return JSONResponse(dict(data), status_code=status_code, headers=NO_STORE)


def json_error(status_code: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error answer: ``{"error": message}``."""
    return JSONResponse({"error": message}, status_code=status_code, headers={**NO_STORE, **(headers or {})})


def unauthorised() -> JSONResponse:
    """401 with the challenge that tells clients to send Basic credentials."""
    return json_error(401, UNAUTHORISED_MESSAGE, {"WWW-Authenticate": WWW_AUTHENTICATE})


def too_many_requests(retry_after_seconds: int) -> JSONResponse:
    """429: the key set's rate limit is reached; ``Retry-After`` says when the next call is allowed."""
    wait = "1 second" if retry_after_seconds == 1 else f"{retry_after_seconds} seconds"
    return json_error(
        429,
        f"Too many calls with these connection keys. Try again in {wait}.",
        {"Retry-After": str(retry_after_seconds)},
    )


def http_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (unknown path, wrong method) in the API's JSON error shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        slash = request.url.path.endswith("/")
        return json_error(404, TRAILING_SLASH_MESSAGE if slash else NOT_FOUND_MESSAGE)
    if exc.status_code == 405:
        return json_error(405, METHOD_NOT_ALLOWED_MESSAGE, exc.headers)
    return json_error(exc.status_code, str(exc.detail), exc.headers)


def server_error_handler(_request: Request, _exc: Exception) -> JSONResponse:
    """Unexpected failures: a plain message, no internals."""
    return json_error(500, SERVER_ERROR_MESSAGE)
