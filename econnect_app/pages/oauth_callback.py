"""/configurations/oauth/[provider]: where Dropbox or Octopus sends the browser back after
"Sign in with ...". (Placeholder: issue 9.)"""

from __future__ import annotations

import reflex as rx

from econnect_app.components.layout import app_layout
from econnect_app.state.auth import AuthState


class OAuthCallbackState(AuthState):
    """Finishes a "Sign in with ..." and returns to the configuration."""

    @rx.event
    def finish(self) -> None:
        """Exchange the code for tokens."""


def oauth_callback_page() -> rx.Component:
    """/configurations/oauth/[provider]."""
    return app_layout("Accounting package configurations", rx.fragment())
