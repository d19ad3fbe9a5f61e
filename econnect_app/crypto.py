"""Encrypting stored text with keys derived from ``ECONNECT_SECRET_KEY`` (Fernet).

Each use names its purpose, and each purpose has its own key (HKDF-SHA256 of the secret key with
the purpose as context), so text encrypted for one purpose never decrypts as another. Encrypted
text is stored as ``fernet:`` followed by the Fernet token (AES-128-CBC with HMAC-SHA256, see the
Fernet specification); text without that prefix is plain text written before encryption existed
and is read as it is. Changing ``ECONNECT_SECRET_KEY`` makes earlier encrypted text unreadable.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from econnect_app.settings import get_settings

ENCRYPTED_PREFIX = "fernet:"
_KEY_SALT = b"econnect fernet keys v1"


class UnreadableText(ValueError):
    """Encrypted text that this secret key cannot decrypt (another key, or damaged text)."""


@lru_cache(maxsize=16)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_KEY_SALT, info=purpose.encode("utf-8")).derive(
        secret_key.encode("utf-8")
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _key_for(purpose: str) -> Fernet:
    return _fernet(get_settings().secret_key, purpose)


def is_encrypted(stored: str) -> bool:
    """Whether ``stored`` is encrypted text (rather than plain text from before encryption)."""
    return stored.startswith(ENCRYPTED_PREFIX)


def encrypt_text(plain: str, *, purpose: str) -> str:
    """``plain`` encrypted for ``purpose``, ready to store."""
    token = _key_for(purpose).encrypt(plain.encode("utf-8"))
    return ENCRYPTED_PREFIX + token.decode("ascii")


def decrypt_text(stored: str, *, purpose: str) -> str:
    """The plain text of ``stored`` (returned as it is when it was never encrypted).

    Raises ``UnreadableText`` when it was encrypted with another secret key or is damaged.
    """
    if not is_encrypted(stored):
        return stored
    try:
        plain = _key_for(purpose).decrypt(stored[len(ENCRYPTED_PREFIX) :].encode("ascii"))
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise UnreadableText(
            f"This {purpose} cannot be decrypted: it was encrypted with another ECONNECT_SECRET_KEY "
            "or is damaged."
        ) from exc
    return plain.decode("utf-8")
