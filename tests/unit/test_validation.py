"""Validation of the fields users type."""

import pytest

from econnect_app.services.validation import (
    FieldError,
    clean_email,
    clean_kvk_number,
    clean_password,
    clean_vat_number,
    parse_id,
)


@pytest.mark.parametrize("value", ["12345678", " 1234 5678 "])
def test_kvk_number_accepts_eight_digits(value: str) -> None:
    assert clean_kvk_number(value) == "12345678"


@pytest.mark.parametrize("value", ["", "1234567", "123456789", "1234567a"])
def test_kvk_number_refuses_anything_else(value: str) -> None:
    with pytest.raises(FieldError):
        clean_kvk_number(value)


@pytest.mark.parametrize("value", ["NL123456789B01", "nl123456789b01", "NL 1234.56789 B01"])
def test_vat_number_accepts_dutch_format(value: str) -> None:
    assert clean_vat_number(value) == "NL123456789B01"


def test_vat_number_is_optional() -> None:
    assert clean_vat_number("  ") is None


@pytest.mark.parametrize("value", ["NL123456789", "BE0123456789", "NL12345678B01", "NL123456789C01"])
def test_vat_number_refuses_other_formats(value: str) -> None:
    with pytest.raises(FieldError, match="NL123456789B01"):
        clean_vat_number(value)


def test_email_is_normalised_to_lower_case() -> None:
    assert clean_email("  Anna@Example.COM ") == "anna@example.com"


@pytest.mark.parametrize("value", ["", "anna", "anna@", "@example.com", "anna@@example.com"])
def test_email_refuses_invalid_addresses(value: str) -> None:
    with pytest.raises(FieldError):
        clean_email(value)


def test_password_length_bounds() -> None:
    with pytest.raises(FieldError, match="at least 12"):
        clean_password("short-pass1")
    with pytest.raises(FieldError, match="at most 128"):
        clean_password("x" * 129)
    assert clean_password("x" * 128) == "x" * 128
    assert clean_password("correct horse") == "correct horse"


def test_password_has_no_composition_rules() -> None:
    assert clean_password("all lower case words") == "all lower case words"


def test_common_passwords_are_refused_case_insensitively() -> None:
    from econnect_app.services.validation import common_passwords

    long_common = sorted(p for p in common_passwords() if len(p) >= 12)
    assert long_common, "the list holds passwords of 12 or more characters"
    with pytest.raises(FieldError, match="too common"):
        clean_password(long_common[0].upper())


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("7", 7), (" 12 ", 12), ("0", None), (-3, None), ("²", None), ("1e3", None), ("", None),
     (None, None), (True, None), (2**31, None), ("99999999999", None)],
)
def test_an_id_from_a_form_is_a_positive_number_that_fits_an_id_column(value: object, expected: int | None) -> None:
    assert parse_id(value) == expected  # type: ignore[arg-type]
