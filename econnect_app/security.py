"""Password hashing (argon2, through libpass's `passlib`) and single-use token creation and hashing."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from passlib.context import CryptContext

# The argon2id cost of new hashes (RFC 9106's second recommendation, argon2-cffi's defaults). Raising
# any of these makes every stored hash outdated: each is replaced at its owner's next log-in.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_COST_KIB = 64 * 1024
ARGON2_PARALLELISM = 4

_password_context = CryptContext(
    schemes=["argon2"],
    deprecated="auto",
    argon2__type="ID",
    argon2__rounds=ARGON2_TIME_COST,
    argon2__memory_cost=ARGON2_MEMORY_COST_KIB,
    argon2__parallelism=ARGON2_PARALLELISM,
)
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


def password_needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with another scheme or cost than new hashes are.

    Call it after a successful `verify_password`, and store `hash_password(password)` when true. A hash
    this module cannot read is not reported: `verify_password` already refuses it.
    """
    try:
        return _password_context.needs_update(password_hash)
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
