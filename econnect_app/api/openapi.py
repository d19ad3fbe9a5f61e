"""The OpenAPI 3.1 document of /api/v1 (written out: the API is small and stable)."""

from __future__ import annotations

from typing import Any

from econnect_app.api import responses

API_PREFIX = "/api/v1"
API_VERSION = "1.2.0"
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


IDENTIFIER_PARAMETER: dict[str, Any] = {
    "name": "organisation_identifier",
    "in": "path",
    "required": True,
    "description": "The Organisation identifier shown next to the keys.",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
}
MAX_DOCUMENT_MB = 10  # settings.max_document_bytes, as the document states it


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


def _documents_path(access_errors: dict[str, Any]) -> dict[str, Any]:
    """``/organisations/{organisation_identifier}/documents``: list (GET) and upload (POST)."""
    invalid = _error(
        'A field is missing or wrong: "kind" must be "invoice" or "statement", "file" must hold a '
        "non-empty file, one per call; or the body is not valid multipart/form-data.",
        'Choose Invoice or Statement: send the field "kind" as "invoice" or "statement".',
    )
    return {
        "get": {
            "operationId": "listDocuments",
            "summary": "The organisation's documents, newest first, one page at a time",
            "parameters": [
                IDENTIFIER_PARAMETER,
                {
                    "name": "page",
                    "in": "query",
                    "required": False,
                    "description": "Which page, from 1 (default 1).",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000, "default": 1},
                },
                {
                    "name": "per_page",
                    "in": "query",
                    "required": False,
                    "description": "Documents per page, 1 to 100 (default 50).",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
                },
            ],
            "responses": {
                "200": _json("DocumentPage", "One page of documents, newest first."),
                **access_errors,
                "422": _error("page or per_page is out of range.", responses.PAGING_MESSAGE),
            },
        },
        "post": {
            "operationId": "uploadDocument",
            "summary": "Upload an invoice or a bank statement (PDF or UBL 2.1 XML)",
            "description": (
                f"multipart/form-data with the fields file and kind. At most {MAX_DOCUMENT_MB} MB; the type is "
                "judged by the content, not the file name: a PDF starts with %PDF-, a UBL 2.1 document is "
                "well-formed XML (no DTD, no entities) whose root element is a UBL document in its "
                "namespace (urn:oasis:names:specification:ubl:schema:xsd:Invoice-2, ...). The access is "
                "checked before the body is read; a Content-Length over the limit is refused without "
                "reading it. The document is stored with its SHA-256 checksum and never deleted."
            ),
            "parameters": [IDENTIFIER_PARAMETER],
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {"$ref": "#/components/schemas/DocumentUpload"},
                        "encoding": {"file": {"contentType": "application/pdf, application/xml, text/xml"}},
                    }
                },
            },
            "responses": {
                "201": _json("Document", "The document was stored."),
                **access_errors,
                "413": _error(
                    f"The file is larger than {MAX_DOCUMENT_MB} MB (or the body larger than such a file and "
                    "its form).",
                    f"This file is larger than {MAX_DOCUMENT_MB} MB. Upload documents of at most that size.",
                ),
                "415": _error(
                    "The file is neither a PDF nor a UBL 2.1 XML document, or the body is not "
                    "multipart/form-data.",
                    "This file is not a PDF or UBL 2.1 XML document.",
                ),
                "422": invalid,
            },
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
    forbidden = _error(
        "The keys' environment has no access to this organisation (no "
        "partnership, partnership ended, membership removed, not activated).",
        responses.FORBIDDEN_MESSAGE,
    )
    not_found = _error(
        "No organisation has this identifier, or the path names no possible "
        "organisation (an identifier is 1 to 64 characters A-Z, a-z, 0-9, - and _).",
        responses.NOT_AN_IDENTIFIER_MESSAGE,
    )
    access_errors = {"401": unauthorised, "403": forbidden, "404": not_found, "429": too_many}
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
                "organisation your keys do not reach answers 403. Documents (invoices and bank "
                "statements, PDF or UBL 2.1 XML) are uploaded and listed per organisation."
            ),
        },
        "servers": [{"url": API_PREFIX}],
        "security": [{"connectionKeys": []}],
        "paths": {
            "/organisations/{organisation_identifier}": {
                "get": {
                    "operationId": "getOrganisation",
                    "summary": "One organisation your keys give access to",
                    "parameters": [IDENTIFIER_PARAMETER],
                    "responses": {
                        "200": {
                            "description": "The organisation.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Organisation"}}
                            },
                        },
                        "401": unauthorised,
                        "403": forbidden,
                        "404": not_found,
                        "429": too_many,
                    },
                }
            },
            "/organisations/{organisation_identifier}/documents": _documents_path(access_errors),
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
                            "description": "Dutch Chamber of Commerce number (8 digits) or Belgian enterprise number (10 digits).",
                        },
                        "vat_number": {"type": ["string", "null"]},
                        "software_package": {
                            "type": ["string", "null"],
                            "description": "The client's accounting software, when known.",
                        },
                    },
                },
                "Document": {
                    "type": "object",
                    "required": [
                        "id",
                        "kind",
                        "format",
                        "filename",
                        "content_type",
                        "size",
                        "sha256",
                        "created_at",
                    ],
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"type": "string", "enum": ["invoice", "statement"]},
                        "format": {
                            "type": "string",
                            "enum": ["pdf", "ubl"],
                            "description": "What the content is: pdf, or ubl (UBL 2.1 XML).",
                        },
                        "filename": {
                            "type": "string",
                            "description": "The uploaded file's name, cleaned, ending in .pdf or .xml.",
                        },
                        "content_type": {"type": "string", "enum": ["application/pdf", "application/xml"]},
                        "size": {"type": "integer", "minimum": 1, "description": "In bytes."},
                        "sha256": {
                            "type": "string",
                            "pattern": "^[0-9a-f]{64}$",
                            "description": "The SHA-256 checksum of the stored bytes (hex).",
                        },
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
                "DocumentPage": {
                    "type": "object",
                    "required": ["documents", "page", "per_page", "total", "has_more", "next_page"],
                    "properties": {
                        "documents": {"type": "array", "items": {"$ref": "#/components/schemas/Document"}},
                        "page": {"type": "integer", "minimum": 1},
                        "per_page": {"type": "integer", "minimum": 1, "maximum": 100},
                        "total": {"type": "integer", "minimum": 0, "description": "Documents on every page."},
                        "has_more": {"type": "boolean"},
                        "next_page": {"type": ["integer", "null"], "description": "The next page, if any."},
                    },
                },
                "DocumentUpload": {
                    "type": "object",
                    "required": ["file", "kind"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": f"The document: a PDF or UBL 2.1 XML file of at most {MAX_DOCUMENT_MB} MB.",
                        },
                        "kind": {"type": "string", "enum": ["invoice", "statement"]},
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
