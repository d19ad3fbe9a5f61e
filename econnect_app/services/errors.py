"""Domain errors with messages a user can read."""

from __future__ import annotations

from econnect_app import i18n


class DomainError(Exception):
    """Base class: ``message`` is shown to the user as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Bad input; ``errors`` maps a field name to the message shown next to that field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(i18n.gettext("Please correct the highlighted fields."))
        self.errors = errors


class PermissionDenied(DomainError):
    """The user may not do this."""


class NotFound(DomainError):
    """The thing does not exist, or the user may not see it."""


class InvalidCredentials(DomainError):
    """Unknown email or wrong password (one message for both)."""

    def __init__(self) -> None:
        super().__init__(i18n.gettext("The email address or password is incorrect."))


class TooManyAttempts(DomainError):
    """Throttled after repeated failures."""


class AccountBlocked(DomainError):
    """The account exists but is blocked."""

    def __init__(self) -> None:
        super().__init__(
            i18n.gettext("This account has been blocked. Contact an administrator of your environment.")
        )


class InvalidToken(DomainError):
    """An emailed link that is unknown, used or expired."""


class PlanLimitReached(DomainError):
    """The subscription plan does not allow this."""


class Conflict(DomainError):
    """The change clashes with the current state (e.g. the last administrator)."""


class ConfirmationNeeded(DomainError):
    """The change is allowed but has consequences the user must confirm first (``message`` says
    which); calling again with ``confirmed=True`` makes it."""
