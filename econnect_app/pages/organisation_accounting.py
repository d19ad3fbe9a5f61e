"""The `Accounting package connection` section of /organisations/[organisation_id] (seed 004):
share documents, the configuration, the export activations and the delivery log. (Placeholder:
filled in by issue 9.)"""

from __future__ import annotations

import reflex as rx

from econnect_app.state.auth import AuthState


class AccountingConnectionState(AuthState):
    """One client organisation's accounting package connection, for its accountant."""

    @rx.event
    def load(self) -> None:
        """Read the section for the organisation in the address."""


def accounting_connection_section() -> rx.Component:
    """The section, shown under the organisation's details."""
    return rx.fragment()
