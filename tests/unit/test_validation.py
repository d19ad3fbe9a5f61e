"""Validation of the fields users type."""

import gzip
import smtplib
from importlib import resources

import pytest

from econnect_app.services.validation import (
    NON_ASCII_LOCAL_PART_MESSAGE,
    FieldError,
    breached_passwords,
    clean_email,
    clean_kvk_number,
    clean_password,
    clean_vat_number,
    parse_id,
)


@pytest.mark.parametrize("value", ["12345678", " 1234 5678 "])
def test_kvk_number_accepts_eight_digits(value: str) -> None:
    assert clean_kvk_number(value) == "12345678"


@pytest.mark.parametrize("value", ["", "1234567", "123456789", "1234567a", "١٢٣٤٥٦٧٨"])
def test_kvk_number_refuses_anything_else(value: str) -> None:
    with pytest.raises(FieldError):
        clean_kvk_number(value)


@pytest.mark.parametrize("value", ["NL123456782B01", "nl123456782b01", "NL 1234.56782 B01"])
def test_vat_number_accepts_dutch_numbers(value: str) -> None:
    assert clean_vat_number(value) == "NL123456782B01"


def test_vat_number_accepts_dutch_sole_trader_numbers() -> None:
    """Since 2020 sole traders get numbers checked by the modulo-97 rule instead (stdnum knows both)."""
    assert clean_vat_number("NL000099998B57") == "NL000099998B57"


@pytest.mark.parametrize(
    "value", ["BE0123456749", "be 0123.456.749", "BE 0123-456-749", "BE123456749"]
)
def test_vat_number_accepts_belgian_numbers(value: str) -> None:
    """Belgian numbers are stored as BE + 10 digits; the older 9-digit form gets its leading 0."""
    assert clean_vat_number(value) == "BE0123456749"


def test_vat_number_is_optional() -> None:
    assert clean_vat_number("  ") is None


@pytest.mark.parametrize(
    "value",
    [
        "NL123456789",
        "NL12345678B01",
        "NL123456789C01",
        "DE123456789",
        "123456782B01",  # the country code is required
        "0123456749",
        "BE2123456749",  # a Belgian number starts with 0 or 1
        "BE01234567",
        "NL١٢٣٤٥٦٧٨٢B01",  # digits of another script
    ],
)
def test_vat_number_refuses_other_formats(value: str) -> None:
    with pytest.raises(FieldError) as raised:
        clean_vat_number(value)
    assert raised.value.message == (
        "Enter a valid Dutch or Belgian VAT number, e.g. NL123456782B01 or BE0123456749."
    )


@pytest.mark.parametrize("value", ["NL123456789B01", "NL123456783B01", "BE0123456748", "BE0123456750"])
def test_vat_number_refuses_wrong_check_digits(value: str) -> None:
    with pytest.raises(FieldError) as raised:
        clean_vat_number(value)
    assert raised.value.message == (
        "The check digits of this VAT number do not match: check it for a typo "
        "(a valid number looks like NL123456782B01 or BE0123456749)."
    )


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


def test_the_breached_password_list_is_large_and_shipped_with_the_app() -> None:
    packed = resources.files("econnect_app.data").joinpath("breached_passwords.txt.gz").read_bytes()
    entries = {line.rstrip("\r").lower() for line in gzip.decompress(packed).decode().splitlines()}
    assert len(entries) >= 100_000
    # Only what the length rule lets through is kept in memory, and all of that is.
    assert breached_passwords() == {entry for entry in entries if len(entry) >= 12}


@pytest.mark.parametrize("value", ["password1234", "PASSWORD1234", "Password1234", "1qaz2wsx3edc", "QWERTYUIOP123"])
def test_breached_and_common_passwords_are_refused_case_insensitively(value: str) -> None:
    with pytest.raises(FieldError, match="too common"):
        clean_password(value)


def test_a_password_that_is_not_text_is_refused_without_an_error() -> None:
    with pytest.raises(FieldError, match="at least 12"):
        clean_password({"not": "text"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["jöse@example.com", "Jöse@Example.com", "用户@例子.广告", "ÉLISE@example.nl"]
)
def test_an_address_the_mail_server_cannot_deliver_to_is_refused_with_a_clear_message(value: str) -> None:
    with pytest.raises(FieldError) as refused:
        clean_email(value)
    assert refused.value.message == NON_ASCII_LOCAL_PART_MESSAGE
    assert "before the @" in refused.value.message


@pytest.mark.parametrize("value", ["anna@bücher.example", "Anna@XN--BCHER-KVA.example"])
def test_an_international_domain_is_kept_in_the_ascii_form_smtp_sends(value: str) -> None:
    address = clean_email(value)
    assert address == "anna@xn--bcher-kva.example"
    assert smtplib.quoteaddr(address).encode("ascii")  # what SMTP's RCPT TO sends, in plain ASCII


def test_an_email_that_is_not_text_is_asked_for_again() -> None:
    with pytest.raises(FieldError, match="Enter an email address"):
        clean_email(["anna@example.com"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), ("7", 7), (" 12 ", 12), ("0", None), (-3, None), ("²", None), ("1e3", None), ("", None),
     (None, None), (True, None), (2**31, None), ("99999999999", None)],
)
def test_an_id_from_a_form_is_a_positive_number_that_fits_an_id_column(value: object, expected: int | None) -> None:
    assert parse_id(value) == expected  # type: ignore[arg-type]
