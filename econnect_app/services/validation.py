"""Input validation shared by the services: each function returns the clean value or raises."""

from __future__ import annotations

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


def clean_email(value: str) -> str:
    """A syntactically valid email address, normalised to lower case."""
    value = (value or "").strip()
    if not value:
        raise FieldError("Enter an email address.")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise FieldError("Enter a valid email address, like name@example.com.") from None
    return result.normalized.lower()


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


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 1,000 most common passwords (lower case)."""
    text = resources.files("econnect_app.data").joinpath("common_passwords.txt").read_text()
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def clean_password(value: str) -> str:
    """A password of 12 to 128 characters that is not one of the most common passwords."""
    value = value or ""
    if len(value) < PASSWORD_MIN_LENGTH:
        raise FieldError(f"Use at least {PASSWORD_MIN_LENGTH} characters.")
    if len(value) > PASSWORD_MAX_LENGTH:
        raise FieldError(f"Use at most {PASSWORD_MAX_LENGTH} characters.")
    if value.lower() in common_passwords():
        raise FieldError("This password is too common. Choose one that is harder to guess.")
    return value
