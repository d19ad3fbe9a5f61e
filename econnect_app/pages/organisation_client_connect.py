"""The `Client Connect` section of /organisations/[organisation_id] (seed 003): the link, available
apps, "Ask owner to connect" and the connected apps. (Placeholder: filled in by issue 9.)"""

from __future__ import annotations

import reflex as rx

from econnect_app.state.auth import AuthState


class ClientConnectState(AuthState):
    """The organisation's Client Connect link and connections, for the accountant."""

    @rx.event
    def load(self) -> None:
        """Read the section for the organisation in the address."""


def client_connect_section() -> rx.Component:
    """The section, shown under the organisation's details."""
    return rx.fragment()
