"""/organisations/[organisation_id]/documents: an organisation's invoices and statements.
(Placeholder: filled in by issue 9.)"""

from __future__ import annotations

import reflex as rx

from econnect_app.components.layout import app_layout
from econnect_app.state.auth import AuthState


class DocumentsState(AuthState):
    """The documents of the organisation in the address."""

    @rx.event
    def load(self) -> None:
        """Read the documents."""


def documents_page() -> rx.Component:
    """/organisations/[organisation_id]/documents."""
    return app_layout("Documents", rx.fragment())
