"""HTTP Basic authentication with connection keys (user = App key, password = Secret)."""

from __future__ import annotations

import base64

from sqlmodel import Session
from starlette.requests import Request

from econnect_app.models import KeySet
from econnect_app.services import keys

REALM = "eConnect API"
WWW_AUTHENTICATE = f'Basic realm="{REALM}", charset="UTF-8"'


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """The (App key, Secret) pair of a Basic ``Authorization`` header, or None when absent or
    malformed."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    # Not base64 (binascii.Error; ValueError for a non-ASCII header), or not UTF-8 (UnicodeDecodeError).
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:
        return None
    app_key, separator, secret = decoded.partition(":")
    if not separator or not app_key or not secret:
        return None
    return app_key, secret


def authenticated_key_set(session: Session, request: Request) -> KeySet | None:
    """The key set whose keys the request carries, or None for missing or wrong keys."""
    credentials = basic_credentials(request)
    if credentials is None:
        return None
    app_key, secret = credentials
    return keys.authenticate_key(session, app_key=app_key, secret=secret)
