"""/configurations: accounting package configurations (seed 004). (Placeholder: issue 9.)"""

from __future__ import annotations

import reflex as rx

from econnect_app.components.layout import app_layout
from econnect_app.state.auth import AuthState


class ConfigurationsState(AuthState):
    """The environment's accounting package configurations."""

    @rx.event
    def load(self) -> None:
        """Read the configurations."""


def configurations_page() -> rx.Component:
    """/configurations."""
    return app_layout("Accounting package configurations", rx.fragment())
