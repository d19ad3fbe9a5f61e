"""Input validation shared by the services: each function returns the clean value or raises."""

from __future__ import annotations

import gzip
import re
from functools import lru_cache
from importlib import resources

from email_validator import EmailNotValidError, validate_email
from stdnum.be import vat as belgian_vat
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.nl import btw as dutch_vat

from econnect_app import i18n
from econnect_app.services.errors import ValidationFailed

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 128
KVK_PATTERN = re.compile(r"^[0-9]{8}$")  # ASCII digits only: \d also matches other scripts
BELGIAN_ENTERPRISE_PATTERN = re.compile(r"^(BE)?[0-9]{10}$")
VAT_EXAMPLES = "NL123456782B01 or BE0123456749"
# Marked for translation (the examples written out); raised as ``i18n.gettext(...)``.
VAT_FORMAT_MESSAGE = i18n.N_(
    "Enter a valid Dutch or Belgian VAT number, e.g. NL123456782B01 or BE0123456749."
)
VAT_CHECK_DIGIT_MESSAGE = i18n.N_(
    "The check digits of this VAT number do not match: check it for a typo "
    "(a valid number looks like NL123456782B01 or BE0123456749)."
)
VAT_COUNTRIES = {  # country code: the shape a number must have, and its python-stdnum check
    "NL": (re.compile(r"^NL[0-9]{9}B[0-9]{2}$"), dutch_vat),
    "BE": (re.compile(r"^BE[0-9]{9,10}$"), belgian_vat),
}


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


NON_ASCII_LOCAL_PART_MESSAGE = i18n.N_(
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
        raise FieldError(i18n.gettext("Enter an email address."))
    try:
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        local_part = value.rpartition("@")[0]
        if local_part and not local_part.isascii():
            raise FieldError(i18n.gettext(NON_ASCII_LOCAL_PART_MESSAGE)) from None
        raise FieldError(i18n.gettext("Enter a valid email address, like name@example.com.")) from None
    address = result.ascii_email
    if address is None:  # not reached without SMTPUTF8, but never store an address we cannot send to
        raise FieldError(i18n.gettext(NON_ASCII_LOCAL_PART_MESSAGE))
    return address.lower()


def clean_required(value: str, *, label: str, max_length: int = 200) -> str:
    """A non-empty trimmed text of at most ``max_length`` characters (NUL characters dropped).

    ``label`` names the field in "Enter {label}." ("your name"): mark it with ``i18n.N_``, it is
    translated here."""
    value = " ".join(without_nul(value or "").split())
    if not value:
        raise FieldError(i18n.gettext("Enter {label}.", label=i18n.gettext(label)))
    if len(value) > max_length:
        raise FieldError(i18n.gettext("Use at most {max_length} characters.", max_length=max_length))
    return value


def clean_optional(value: str, *, max_length: int = 200) -> str:
    """A trimmed optional text of at most ``max_length`` characters (NUL characters dropped)."""
    value = " ".join(without_nul(value or "").split())
    if len(value) > max_length:
        raise FieldError(i18n.gettext("Use at most {max_length} characters.", max_length=max_length))
    return value


def clean_kvk_number(value: str) -> str:
    """A Dutch Chamber of Commerce number (exactly 8 digits) or a Belgian enterprise number (10
    digits, often written 0403.019.261 or BE0403019261; its check digits verified with
    python-stdnum), stored as its digits."""
    value = re.sub(r"\s", "", value or "")
    if not value:
        raise FieldError(i18n.gettext("Enter the KvK number."))
    if KVK_PATTERN.match(value):
        return value
    belgian = re.sub(r"[.\-]", "", value).upper()
    if BELGIAN_ENTERPRISE_PATTERN.match(belgian):
        if not belgian_vat.is_valid(belgian):
            raise FieldError(
                i18n.gettext(
                    "The check digits of this Belgian enterprise number do not match: check it for a typo."
                )
            )
        return belgian_vat.compact(belgian)
    raise FieldError(i18n.gettext("A KvK number has exactly 8 digits; a Belgian enterprise number has 10."))


def clean_vat_number(value: str) -> str | None:
    """An optional Dutch or Belgian VAT number, checked with python-stdnum (format and check
    digits) and stored compact with its country code: NL + 9 digits + B + 2 digits (e.g.
    NL123456782B01) or BE + 10 digits (e.g. BE0123456749; the older 9-digit form gets its
    leading 0). Spaces, dots and dashes are ignored; the country code is required."""
    value = re.sub(r"[\s.\-]", "", without_nul(value or "")).upper()
    if not value:
        return None
    pattern, module = VAT_COUNTRIES.get(value[:2], (None, None))
    if pattern is None or module is None or not pattern.match(value):
        raise FieldError(i18n.gettext(VAT_FORMAT_MESSAGE))
    try:
        number = module.validate(value)
    except InvalidChecksum:
        raise FieldError(i18n.gettext(VAT_CHECK_DIGIT_MESSAGE)) from None
    except ValidationError:
        raise FieldError(i18n.gettext(VAT_FORMAT_MESSAGE)) from None
    return value[:2] + number


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
        raise FieldError(
            i18n.gettext("Use at least {min_length} characters.", min_length=PASSWORD_MIN_LENGTH)
        )
    if len(value) > PASSWORD_MAX_LENGTH:
        raise FieldError(i18n.gettext("Use at most {max_length} characters.", max_length=PASSWORD_MAX_LENGTH))
    if value.lower() in breached_passwords():
        raise FieldError(i18n.gettext("This password is too common. Choose one that is harder to guess."))
    return value
