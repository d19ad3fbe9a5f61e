"""Password hashing and token creation."""

from __future__ import annotations

import base64
import hashlib
import re

from econnect_app import security


def test_hash_password_uses_argon2_with_a_fresh_salt() -> None:
    first = security.hash_password("correct horse battery staple")
    second = security.hash_password("correct horse battery staple")

    assert first.startswith("$argon2")
    assert "correct horse" not in first
    assert first != second


def test_verify_password_accepts_only_the_right_password() -> None:
    password_hash = security.hash_password("correct horse battery staple")

    assert security.verify_password("correct horse battery staple", password_hash)
    assert not security.verify_password("correct horse battery stapl", password_hash)
    assert not security.verify_password("", password_hash)


def test_verify_password_without_a_hash_is_false() -> None:
    assert not security.verify_password("anything at all", None)
    assert not security.verify_password("anything at all", "")


def test_verify_password_with_a_broken_hash_is_false() -> None:
    assert not security.verify_password("anything at all", "not-a-hash")


def test_new_token_is_32_random_bytes_url_safe() -> None:
    raw, token_hash = security.new_token()

    assert len(raw) == 43
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", raw)
    assert len(base64.urlsafe_b64decode(raw + "=")) == 32
    assert token_hash == security.hash_token(raw)


def test_new_tokens_do_not_repeat() -> None:
    raws = {security.new_token()[0] for _ in range(1000)}
    assert len(raws) == 1000


def test_hash_token_is_sha256_hex() -> None:
    assert security.hash_token("abc") == hashlib.sha256(b"abc").hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", security.hash_token("anything"))


def test_tokens_equal_compares_exactly() -> None:
    assert security.tokens_equal("abc", "abc")
    assert not security.tokens_equal("abc", "abd")
