"""The HTTP API for accounting software (/api/v1), authenticated with connection keys.

Joined to the Reflex backend with ``rx.App(api_transformer=mount_api)``.
"""

from econnect_app.api.app import api_app, create_api_app, is_api_path, mount_api
from econnect_app.api.openapi import API_PREFIX, openapi_document

__all__ = ["API_PREFIX", "api_app", "create_api_app", "is_api_path", "mount_api", "openapi_document"]
