"""Delivering one document's bytes to a configuration's target (SFTP, Dropbox, Octopus).

``deliver`` is what the export worker calls; ``exports/sftp.py`` and ``exports/cloud.py`` do the
transfers. Files go into an ``invoices/`` or ``statements/`` folder by their kind; the caller
passes a unique file name. Every failure is a ``DeliveryError`` whose ``message`` says what went
wrong in words an accountant can act on, and whose ``retryable`` says whether trying again later
may help. ``deliver`` blocks (network I/O, seconds): call it in a worker thread, never on an event
loop.
"""

from __future__ import annotations

from sqlmodel import Session

from econnect_app import crypto
from econnect_app.models import AccountingConfiguration, ConfigurationTarget, DocumentKind

FOLDERS: dict[str, str] = {DocumentKind.INVOICE.value: "invoices", DocumentKind.STATEMENT.value: "statements"}
TARGET_LABELS: dict[str, str] = {
    ConfigurationTarget.SFTP.value: "SFTP",
    ConfigurationTarget.DROPBOX.value: "Dropbox",
    ConfigurationTarget.OCTOPUS.value: "Octopus",
}
UNREADABLE_CREDENTIALS = (
    "The stored credentials of this configuration cannot be read: ECONNECT_SECRET_KEY changed since they "
    "were saved. Modify the configuration and enter the password or sign in again."
)


class DeliveryError(Exception):
    """A delivery that did not happen; ``message`` is shown in the delivery log; ``retryable`` says
    whether trying again later may help (server down, timeout: True; wrong password, changed host
    key, refused consent / revoked token: False). ``field``: the form field the problem concerns
    when it comes up while connecting (``password``, ``host``, ``port``; "" for none)."""

    def __init__(self, message: str, *, retryable: bool, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.field = field


def folder_for(kind: str) -> str:
    """The folder of a document kind (``invoices`` / ``statements``)."""
    try:
        return FOLDERS[kind]
    except KeyError:
        raise DeliveryError(f"Unknown document kind {kind!r}.", retryable=False) from None


def deliver(
    session: Session, configuration: AccountingConfiguration, *, kind: str, filename: str, data: bytes
) -> str:
    """Deliver one document's bytes to the configuration's target; returns the remote path (e.g.
    "invoices/2026-12-02_<id>_<name>.pdf"). May refresh and store (commit) OAuth tokens through
    ``session``. Raises DeliveryError."""
    from econnect_app.exports import cloud, sftp  # they import DeliveryError from here

    folder = folder_for(kind)
    if configuration.archived_at is not None:
        raise DeliveryError("This configuration was archived: it receives no documents.", retryable=False)
    if configuration.terms_accepted_at is None:
        raise DeliveryError(
            "This configuration is not connected yet (its sign-up was not finished).", retryable=False
        )
    try:
        if configuration.target == ConfigurationTarget.SFTP.value:
            return sftp.upload(sftp.target_of(configuration), folder=folder, filename=filename, data=data)
        if configuration.target == ConfigurationTarget.DROPBOX.value:
            return cloud.upload_to_dropbox(
                session, configuration, folder=folder, filename=filename, data=data
            )
        if configuration.target == ConfigurationTarget.OCTOPUS.value:
            return cloud.upload_to_octopus(
                session, configuration, folder=folder, kind=kind, filename=filename, data=data
            )
    except crypto.UnreadableText:
        raise DeliveryError(UNREADABLE_CREDENTIALS, retryable=False) from None
    raise DeliveryError(f"Unknown target {configuration.target!r}.", retryable=False)
