"""Password hashing (passlib argon2) and single-use token creation and hashing."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from passlib.context import CryptContext

_password_context = CryptContext(schemes=["argon2"], deprecated="auto")
_DUMMY_HASH = _password_context.hash(secrets.token_urlsafe(32))


def hash_password(password: str) -> str:
    """Hash a password with argon2."""
    return _password_context.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Check a password; with no hash, verify against a dummy so timing reveals nothing."""
    if not password_hash:
        _password_context.verify(password, _DUMMY_HASH)
        return False
    try:
        return _password_context.verify(password, password_hash)
    except (ValueError, TypeError):
        return False


def hash_token(raw_token: str) -> str:
    """The SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(raw_token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh 256-bit URL-safe token and its stored hash."""
    raw = secrets.token_urlsafe(32)
    return raw, hash_token(raw)


def new_public_identifier(nbytes: int = 16) -> str:
    """A random public identifier (organisation identifiers, app keys)."""
    return secrets.token_urlsafe(nbytes)


def tokens_equal(a: str, b: str) -> bool:
    """Constant-time string comparison."""
    return hmac.compare_digest(a.encode(), b.encode())
