"""A configuration's credentials (the SFTP password, OAuth tokens), stored encrypted.

They are one JSON document encrypted with a key derived from ``ECONNECT_SECRET_KEY``
(``crypto.encrypt_text``, purpose ``configuration credentials``) in
``AccountingConfiguration.credentials_encrypted``. They are read only where a connection is made
and never put in a page state.
"""

from __future__ import annotations

import json
from typing import Any

from econnect_app import crypto

PURPOSE = "configuration credentials"


def seal(values: dict[str, Any]) -> str:
    """``values`` as stored: encrypted JSON."""
    return crypto.encrypt_text(json.dumps(values, sort_keys=True), purpose=PURPOSE)


def unseal(stored: str) -> dict[str, Any]:
    """The credentials of a stored document ({} when there are none). Raises
    ``crypto.UnreadableText`` when ``ECONNECT_SECRET_KEY`` changed since they were stored."""
    if not stored:
        return {}
    values = json.loads(crypto.decrypt_text(stored, purpose=PURPOSE))
    return values if isinstance(values, dict) else {}
