"""/relationship-requests/[token]: the emailed link of a relationship request (Accept or Decline)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.dialogs import confirm_dialog
from econnect_app.components.forms import is_busy_with
from econnect_app.components.layout import public_layout
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.formatting import format_date
from econnect_app.models import User
from econnect_app.services import relationship_requests
from econnect_app.services.errors import InvalidToken
from econnect_app.services.permissions import can_manage_partnerships
from econnect_app.state.auth import AuthState, Updates

ACCEPT, DECLINE = "accept-relationship-link", "decline-relationship-link"


class RelationshipRequestState(AuthState):
    """Who asks to become partners, and the answer."""

    problem: str = ""
    requester_name: str = ""
    requested_by: str = ""
    target_name: str = ""
    organisation_name: str = ""
    message: str = ""
    expires: str = ""
    may_answer: bool = False
    cannot_answer: str = ""
    outcome: str = ""
    loaded: bool = False

    @rx.var
    def return_path(self) -> str:
        """This page, for coming back after logging in."""
        return quote(self.router.url.path, safe="")

    @rx.event
    def load(self) -> Updates:
        """Show the request, or say clearly why the link no longer works."""
        self.problem = self.outcome = ""

        def look_up(db: Session) -> None:
            user = self._current_user(db)
            try:
                view = relationship_requests.look_up_relationship_link(db, token=self._link_token())
            except InvalidToken as error:
                self.problem, self.loaded = error.message, True
                return
            self.requester_name = view.requester_environment_name
            self.requested_by = view.requested_by
            self.target_name = view.target_environment_name
            self.organisation_name = view.organisation_name
            self.message = view.message
            self.expires = format_date(view.expires_at)
            self.cannot_answer = ""
            if user is not None and user.environment_id != view.target_environment_id:
                self.cannot_answer = i18n.gettext(
                    "This request is for {target}. You are logged in to {environment}: log out and log in with "
                    "your account of {target}.",
                    target=view.target_environment_name,
                    environment=self.environment_name,
                )
            elif user is not None and not can_manage_partnerships(user):
                self.cannot_answer = i18n.gettext(relationship_requests.ANSWER_ROLE_MESSAGE)
            self.may_answer = user is not None and not self.cannot_answer
            self.loaded = True

        return self._load_public(look_up)

    def _answering(self, answer: Callable[[Session, User], str]) -> Callable[[Session, User], Any]:
        def action(db: Session, user: User) -> Any:
            try:
                self.outcome = answer(db, user)
            except InvalidToken as error:
                self.problem = error.message
                return None
            return rx.toast.success(self.outcome)

        return action

    @rx.event
    def accept(self, action_id: str | None = None) -> Updates:
        """Accept: the two environments become partners."""

        def answer(db: Session, user: User) -> str:
            relationship_requests.accept_relationship_request(db, actor=user, token=self._link_token())
            return i18n.gettext(
                "You accepted. {requester} and {target} are partners now.",
                requester=self.requester_name,
                target=self.target_name,
            )

        return self._act(self._answering(answer), busy_with=ACCEPT, action_id=action_id)

    @rx.event
    def decline(self, action_id: str | None = None) -> Updates:
        """Decline: the requester is told."""

        def answer(db: Session, user: User) -> str:
            relationship_requests.decline_relationship_request(db, actor=user, token=self._link_token())
            return i18n.gettext("You declined. {requester} has been told.", requester=self.requester_name)

        return self._act(self._answering(answer), busy_with=DECLINE, action_id=action_id)


def _summary() -> rx.Component:
    state = RelationshipRequestState
    return rx.vstack(
        rx.text(
            t_rich(
                i18n.N_(
                    "{requested_by} of {requester} found {organisation} in Find partners and asks {target} to "
                    "become partners."
                ),
                requested_by=rx.text.strong(state.requested_by),
                requester=rx.text.strong(state.requester_name),
                organisation=state.organisation_name,
                target=rx.text.strong(state.target_name),
            ),
        ),
        rx.cond(state.message != "", rx.text("“", state.message, "”", size="2", color_scheme="gray")),
        rx.callout(
            t(
                "A partnership lets both sides give each other access to their organisations; nothing is shared "
                "until someone is added as a member. Either side can end it at any time."
            ),
            icon="info",
            color_scheme="gray",
            size="1",
        ),
        rx.text(
            t("This request is valid until {expires}.", expires=state.expires), size="1", color_scheme="gray"
        ),
        spacing="3",
        width="100%",
    )


def _answer_buttons() -> rx.Component:
    state = RelationshipRequestState
    return rx.vstack(
        rx.text(
            t(
                "Logged in as {email} ({environment})",
                email=AuthState.user_email,
                environment=AuthState.environment_name,
            ),
            size="1",
            color_scheme="gray",
        ),
        rx.button(
            t("Accept"),
            size="3",
            width="100%",
            loading=is_busy_with(ACCEPT),
            on_click=state.accept(AuthState.action_id),
        ),
        confirm_dialog(
            rx.button(
                t("Decline"),
                size="3",
                width="100%",
                variant="soft",
                color_scheme="red",
                loading=is_busy_with(DECLINE),
            ),
            title=t("Decline this request?"),
            description=t("{firm} will be told that you declined.", firm=state.requester_name),
            confirm_label=t("Decline"),
            on_confirm=state.decline(AuthState.action_id),
        ),
        spacing="3",
        width="100%",
    )


def relationship_request_page() -> rx.Component:
    """The page."""
    state = RelationshipRequestState
    answered = rx.vstack(
        rx.callout(state.outcome, icon="circle_check", color_scheme="green", role="status"),
        rx.link(rx.button(t("Go to Partners")), href=routes.PARTNERS),
        spacing="3",
    )
    open_request = rx.vstack(
        _summary(),
        rx.separator(),
        rx.cond(
            state.may_answer,
            _answer_buttons(),
            rx.cond(
                state.cannot_answer != "",
                rx.callout(state.cannot_answer, icon="triangle_alert", color_scheme="amber", role="alert"),
                rx.vstack(
                    rx.text(
                        t("Log in with your account of {target} to answer.", target=state.target_name),
                        size="2",
                    ),
                    rx.link(
                        rx.button(t("Log in"), size="3"), href=routes.LOGIN + "?next=" + state.return_path
                    ),
                    spacing="3",
                ),
            ),
        ),
        spacing="4",
        width="100%",
    )
    return public_layout(
        t("Relationship request"),
        rx.cond(
            ~state.loaded,
            rx.center(rx.spinner(), padding="24px", aria_label=t("Loading the request")),
            rx.cond(
                state.problem != "",
                rx.vstack(
                    rx.callout(state.problem, icon="triangle_alert", color_scheme="amber", role="alert"),
                    rx.link(t("Go to eConnect"), href="/", size="2"),
                    spacing="3",
                ),
                rx.cond(state.outcome != "", answered, open_request),
            ),
        ),
    )
