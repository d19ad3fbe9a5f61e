"""The HTTP API for accounting software (/api/v1), authenticated with connection keys.

Put in front of the Reflex backend by ``econnect_app.edge`` (``mount_api``), outside Reflex's own
routing.
"""

from econnect_app.api.app import api_app, create_api_app, is_api_path, mount_api
from econnect_app.api.openapi import API_PREFIX, openapi_document

__all__ = ["API_PREFIX", "api_app", "create_api_app", "is_api_path", "mount_api", "openapi_document"]
