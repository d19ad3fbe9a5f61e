"""/configurations/oauth/[provider]: where Dropbox or Octopus sends the browser back after
"Sign in with ..." (``?code=...&state=...``, or ``?error=access_denied&state=...``).

``finish`` hands the query to ``services/oauth_sign_in.finish`` in a worker thread (it checks the
state, exchanges the code for tokens with the PKCE verifier and stores them encrypted) and goes on
to /configurations: a new configuration opens its last step there (``?finish=<id>``: dossier, terms,
Connect). A refused consent or a link that is no longer valid is explained here, with a way back;
nothing is saved then. The code and state are never kept in this state.
"""

from __future__ import annotations

from typing import Any

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.layout import app_layout, section_card
from econnect_app.components.translated import t
from econnect_app.models import User
from econnect_app.services import oauth_sign_in
from econnect_app.services.configurations import OAUTH_TARGETS, target_label
from econnect_app.services.errors import DomainError
from econnect_app.state.auth import AuthState, Updates


class OAuthCallbackState(AuthState):
    """Finishes a "Sign in with ..." and returns to the configuration."""

    provider_label: str = ""
    problem: str = ""
    done: bool = False

    @rx.event
    def finish(self) -> Updates:
        """Exchange the code for tokens (off the event loop) and continue on /configurations."""
        target = routes.last_path_segment(self.router.url.path)
        query = self.router.url.query_parameters
        self.provider_label = (
            target_label(target) if target in OAUTH_TARGETS else i18n.translate(self.language, "the provider")
        )
        self.problem, self.done = "", False

        def action(db: Session, actor: User) -> Any:
            try:
                result = oauth_sign_in.finish(
                    db,
                    actor=actor,
                    target=target,
                    code=str(query.get("code") or ""),
                    state=str(query.get("state") or ""),
                    error=str(query.get("error") or ""),
                    error_description=str(query.get("error_description") or ""),
                )
            except DomainError as error:
                db.rollback()
                self.problem = error.message
                self.done = True
                return None
            self.done = True
            if result.new:
                return rx.redirect(f"{routes.CONFIGURATIONS}?finish={result.configuration_id}", replace=True)
            return [
                rx.redirect(routes.CONFIGURATIONS, replace=True),
                rx.toast.success(
                    i18n.gettext(
                        "Signed in with {provider} again: new documents go there.",
                        provider=target_label(result.target),
                    )
                ),
            ]

        return self._load(action)


def oauth_callback_page() -> rx.Component:
    """/configurations/oauth/[provider]."""
    state = OAuthCallbackState
    return app_layout(
        t("Accounting package configurations"),
        rx.cond(
            state.problem != "",
            section_card(
                t("Sign-in not completed"),
                rx.callout(
                    state.problem, icon="triangle_alert", color_scheme="amber", role="alert", width="100%"
                ),
                rx.link(t("Back to configurations"), href=routes.CONFIGURATIONS),
            ),
            rx.center(
                rx.vstack(
                    rx.spinner(size="3"),
                    rx.text(
                        t("Finishing the sign-in with {provider}\u2026", provider=state.provider_label),
                        size="2",
                    ),
                    align="center",
                    spacing="3",
                ),
                padding="48px",
                width="100%",
                role="status",
            ),
        ),
    )
