"""Input validation shared by the services: each function returns the clean value or raises."""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib import resources

from email_validator import EmailNotValidError, validate_email

from econnect_app.services.errors import ValidationFailed

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
KVK_PATTERN = re.compile(r"^\d{8}$")
VAT_PATTERN = re.compile(r"^NL\d{9}B\d{2}$")


class FieldErrors:
    """Collects per-field messages and raises them together."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def check(self, field: str, func, *args, **kwargs):  # type: ignore[no-untyped-def]
        """Run a validator; record its message under ``field`` instead of raising."""
        try:
            return func(*args, **kwargs)
        except FieldError as error:
            self.errors[field] = error.message
            return None

    def add(self, field: str, message: str) -> None:
        """Record a message for a field."""
        self.errors.setdefault(field, message)

    def raise_if_any(self) -> None:
        """Raise ValidationFailed when any message was recorded."""
        if self.errors:
            raise ValidationFailed(dict(self.errors))


class FieldError(ValueError):
    """A single field's problem."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def without_nul(value: str) -> str:
    """The text without NUL characters (PostgreSQL refuses them, SQLite stores them; nobody types one)."""
    return value.replace("\x00", "")


def parse_id(value: int | str | None) -> int | None:
    """A row id chosen in a form (an int, or ASCII digits), or None when it cannot be one: ids
    are positive and fit an id column (PostgreSQL refuses a larger number with an error)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value or "").strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 10:
            return None
        number = int(text)
    return number if 0 < number < 2**31 else None


NON_ASCII_LOCAL_PART_MESSAGE = (
    "Our mail server cannot deliver to an address with accented or non-Latin letters before the @. "
    "Use another address."
)


def clean_email(value: str) -> str:
    """A valid email address the mail server can deliver to, normalised: lower case, and the
    domain in its ASCII form (an international domain such as bücher.example is stored and sent
    as xn--bcher-kva.example).

    Addresses with non-ASCII letters before the @ are refused: delivering to them needs the
    SMTPUTF8 extension, which the mail server is not assumed to offer (``mail/smtp.py`` speaks
    plain ASCII SMTP).
    """
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise FieldError("Enter an email address.")
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        local_part = value.rpartition("@")[0]
        if local_part and not local_part.isascii():
            raise FieldError(NON_ASCII_LOCAL_PART_MESSAGE) from None
        raise FieldError("Enter a valid email address, like name@example.com.") from None
    address = result.ascii_email
    if address is None:  # not reached without SMTPUTF8, but never store an address we cannot send to
        raise FieldError(NON_ASCII_LOCAL_PART_MESSAGE)
    return address.lower()


def clean_required(value: str, *, label: str, max_length: int = 200) -> str:
    """A non-empty trimmed text of at most ``max_length`` characters (NUL characters dropped)."""
    value = " ".join(without_nul(value or "").split())
    if not value:
        raise FieldError(f"Enter {label}.")
    if len(value) > max_length:
        raise FieldError(f"Use at most {max_length} characters.")
    return value


def clean_optional(value: str, *, max_length: int = 200) -> str:
    """A trimmed optional text of at most ``max_length`` characters (NUL characters dropped)."""
    value = " ".join(without_nul(value or "").split())
    if len(value) > max_length:
        raise FieldError(f"Use at most {max_length} characters.")
    return value


def clean_kvk_number(value: str) -> str:
    """A Dutch Chamber of Commerce number: exactly 8 digits."""
    value = re.sub(r"\s", "", value or "")
    if not value:
        raise FieldError("Enter the KvK number.")
    if not KVK_PATTERN.match(value):
        raise FieldError("A KvK number has exactly 8 digits.")
    return value


def clean_vat_number(value: str) -> str | None:
    """An optional Dutch VAT number: NL + 9 digits + B + 2 digits (e.g. NL123456789B01)."""
    value = re.sub(r"[\s.]", "", value or "").upper()
    if not value:
        return None
    if not VAT_PATTERN.match(value):
        raise FieldError("A Dutch VAT number looks like NL123456789B01.")
    return value


BREACHED_PASSWORDS_FILE = "breached_passwords.txt.gz"


@lru_cache(maxsize=1)
def breached_passwords() -> frozenset[str]:
    """The breached and common passwords that the length rule lets through, in lower case.

    ``econnect_app/data/breached_passwords.txt.gz`` holds 437,651 passwords from SecLists (see the
    README beside it); read once, at the first password checked. Only those of at least
    ``PASSWORD_MIN_LENGTH`` characters are kept in memory (about 12,000): a shorter password is
    refused before the list is consulted.
    """
    packed = resources.files("econnect_app.data").joinpath(BREACHED_PASSWORDS_FILE).read_bytes()
    lines = gzip.decompress(packed).decode("utf-8", errors="replace").split("\n")
    candidates = (line.rstrip("\r").lower() for line in lines)
    return frozenset(password for password in candidates if len(password) >= PASSWORD_MIN_LENGTH)


def clean_password(value: str) -> str:
    """A password of 12 to 128 characters that is not a known breached or common password
    (compared without regard to case)."""
    value = value if isinstance(value, str) else ""
    if len(value) < PASSWORD_MIN_LENGTH:
        raise FieldError(f"Use at least {PASSWORD_MIN_LENGTH} characters.")
    if len(value) > PASSWORD_MAX_LENGTH:
        raise FieldError(f"Use at most {PASSWORD_MAX_LENGTH} characters.")
    if value.lower() in breached_passwords():
        raise FieldError("This password is too common. Choose one that is harder to guess.")
    return value
