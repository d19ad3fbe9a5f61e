"""The OpenAPI 3.1 document of /api/v1 (written out: the API is small and stable)."""

from __future__ import annotations

from typing import Any

from econnect_app.api import responses

API_PREFIX = "/api/v1"
API_VERSION = "1.1.0"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
PUBLIC_PATHS = frozenset({OPENAPI_PATH})  # everything else needs connection keys


def _error(description: str, example: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "example": {"error": example},
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The document served at /api/v1/openapi.json."""
    unauthorised = _error(
        "Missing or wrong connection keys (checked first, on every path).", responses.UNAUTHORISED_MESSAGE
    )
    unauthorised["headers"] = {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "The Basic challenge."}
    }
    too_many = _error(
        "Too many calls with these connection keys (a limit per key set); retry after the number of "
        "seconds in Retry-After.",
        "Too many calls with these connection keys. Try again in 12 seconds.",
    )
    too_many["headers"] = {
        "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait."}
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "eConnect API",
            "version": API_VERSION,
            "description": (
                "For accounting software. Authenticate with the connection keys from the "
                "Connection keys page: HTTP Basic, user = App key, password = Secret. "
                'JSON in and out; errors are {"error": "..."} with the matching status code. '
                "Every path but this document needs the keys (401 first). Calls are limited per key "
                "set (429 with Retry-After). An identifier no organisation has answers 404; an "
                "organisation your keys do not reach answers 403."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"connectionKeys": []}],
        "paths": {
            "/organisations/{organisation_identifier}": {
                "get": {
                    "operationId": "getOrganisation",
                    "summary": "One organisation your keys give access to",
                    "parameters": [
                        {
                            "name": "organisation_identifier",
                            "in": "path",
                            "required": True,
                            "description": "The Organisation identifier shown next to the keys.",
                            "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The organisation.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Organisation"}}
                            },
                        },
                        "401": unauthorised,
                        "403": _error(
                            "The keys' environment has no access to this organisation (no "
                            "partnership, partnership ended, membership removed, not activated).",
                            responses.FORBIDDEN_MESSAGE,
                        ),
                        "404": _error(
                            "No organisation has this identifier, or the path names no possible "
                            "organisation (an identifier is 1 to 64 characters A-Z, a-z, 0-9, - and _).",
                            responses.NOT_AN_IDENTIFIER_MESSAGE,
                        ),
                        "429": too_many,
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "connectionKeys": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "User name: the App key. Password: the Secret.",
                }
            },
            "schemas": {
                "Organisation": {
                    "type": "object",
                    "required": ["identifier", "name", "kvk_number", "vat_number", "software_package"],
                    "properties": {
                        "identifier": {"type": "string"},
                        "name": {"type": "string"},
                        "kvk_number": {
                            "type": "string",
                            "description": "Dutch Chamber of Commerce number (8 digits).",
                        },
                        "vat_number": {"type": ["string", "null"]},
                        "software_package": {
                            "type": ["string", "null"],
                            "description": "The client's accounting software, when known.",
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    }
