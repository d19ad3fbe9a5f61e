"""/connect/[token]: the public Client Connect page for a business owner, no account needed
(seed 003). (Placeholder: issue 9.)"""

from __future__ import annotations

import reflex as rx

from econnect_app.state.auth import AuthState


class ClientConnectPageState(AuthState):
    """What the link's organisation may connect, for its owner."""

    @rx.event
    def load(self) -> None:
        """Read the link."""


def client_connect_page() -> rx.Component:
    """/connect/[token]."""
    return rx.fragment()
