"""The OpenAPI 3.1 document of /api/v1 (written out: the API is small and stable)."""

from __future__ import annotations

from typing import Any

from econnect_app.api import responses

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"


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
    unauthorised = _error("Missing or wrong connection keys.", responses.UNAUTHORISED_MESSAGE)
    unauthorised["headers"] = {
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": "The Basic challenge."}
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "eConnect API",
            "version": API_VERSION,
            "description": (
                "For accounting software. Authenticate with the connection keys from the "
                "Connection keys page: HTTP Basic, user = App key, password = Secret. "
                'JSON in and out; errors are {"error": "..."} with the matching status code.'
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
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The organisation.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Organisation"}
                                }
                            },
                        },
                        "401": unauthorised,
                        "403": _error(
                            "The keys' environment has no access to this organisation (no "
                            "partnership, partnership ended or membership removed).",
                            responses.FORBIDDEN_MESSAGE,
                        ),
                        "404": _error("No organisation has this identifier.", responses.NOT_FOUND_MESSAGE),
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
                        "kvk_number": {"type": "string", "description": "Dutch Chamber of Commerce number (8 digits)."},
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
