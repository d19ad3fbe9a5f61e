"""Password hashing and token creation."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re

import argon2
from passlib.context import CryptContext

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


def test_passlib_is_the_maintained_libpass_fork() -> None:
    assert importlib.metadata.packages_distributions()["passlib"] == ["libpass"]


def test_a_fresh_hash_needs_no_rehash() -> None:
    assert not security.password_needs_rehash(security.hash_password("correct horse battery staple"))


def test_a_hash_made_at_a_lower_cost_needs_a_rehash() -> None:
    cheaper = CryptContext(
        schemes=["argon2"],
        argon2__rounds=security.ARGON2_TIME_COST - 1,
        argon2__memory_cost=security.ARGON2_MEMORY_COST_KIB // 2,
        argon2__parallelism=security.ARGON2_PARALLELISM,
    )
    old_hash = cheaper.hash("correct horse battery staple")

    assert security.verify_password("correct horse battery staple", old_hash)
    assert security.password_needs_rehash(old_hash)


def test_a_hash_of_another_argon2_type_needs_a_rehash() -> None:
    argon2i_hash = argon2.PasswordHasher(
        time_cost=security.ARGON2_TIME_COST,
        memory_cost=security.ARGON2_MEMORY_COST_KIB,
        parallelism=security.ARGON2_PARALLELISM,
        type=argon2.Type.I,
    ).hash("correct horse battery staple")

    assert security.password_needs_rehash(argon2i_hash)


def test_an_unreadable_hash_is_not_reported_for_rehash() -> None:
    assert not security.password_needs_rehash("not-a-hash")
    assert not security.password_needs_rehash("")


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
