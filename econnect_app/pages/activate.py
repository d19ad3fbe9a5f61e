"""/activate/[token] (the client's page from the email) and /authorisations/incoming/[id]
(the same choice from the list of received requests): Accept or Decline.

The page names the address the request was sent to. Through the link, a logged-in user for whom
it is not a confirmed address (a forwarded link) must tick "I am allowed to answer for <address>"
before answering; Log in and Create account carry the address, prefilled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import reflex as rx
from sqlmodel import Session

from econnect_app import i18n, routes
from econnect_app.components.forms import (
    app_form,
    field_error,
    is_busy_with,
    submit_button,
    submitting,
    text_field,
)
from econnect_app.components.layout import public_layout
from econnect_app.components.sections import t_rich
from econnect_app.components.translated import t
from econnect_app.formatting import format_date, in_time_zone
from econnect_app.models import User
from econnect_app.services import authorisations, environments, organisations
from econnect_app.services.authorisations.links import ANSWER_FOR_ADDRESS_FIELD
from econnect_app.services.errors import InvalidToken, NotFound
from econnect_app.state.auth import AuthState, Updates

NEW_ORGANISATION = "new"
DECLINE = "decline"
INCOMING_PREFIX = routes.AUTHORISATIONS + "/incoming/"


@dataclasses.dataclass
class OrganisationChoice:
    """One of the client's own organisations."""

    value: str
    label: str


class ActivateState(AuthState):
    """Who asks for what, and the client's answer."""

    problem: str = ""
    firm_name: str = ""
    requester_name: str = ""
    client_name: str = ""
    client_email: str = ""  # the address the request was sent to
    for_another_address: bool = False  # not a confirmed address of the logged-in user
    answer_for_address: bool = False  # the user ticked "I am allowed to answer for <address>"
    organisation_name: str = ""
    software_name: str = ""
    expires: str = ""
    choices: list[OrganisationChoice] = []
    choice: str = NEW_ORGANISATION
    decline_reason: str = ""
    outcome: str = ""
    loaded: bool = False

    @rx.var
    def return_path(self) -> str:
        """This page, for coming back after logging in or signing up."""
        return quote(self.router.url.path, safe="")

    @rx.var
    def account_query(self) -> str:
        """For Log in and Create account: come back here, with the request's address prefilled."""
        return f"?next={quote(self.router.url.path, safe='')}&email={quote(self.client_email, safe='')}"

    def _locator(self) -> dict[str, Any]:
        path = self.router.url.path
        key = routes.last_path_segment(path)
        if path.startswith(INCOMING_PREFIX):
            return {"request_id": int(key) if key.isdigit() else -1}
        return {"token": key}

    def _view(self, db: Session, user: User | None) -> None:
        locator = self._locator()
        if "token" in locator:
            view = authorisations.look_up_link(db, token=locator["token"], user=user)
        else:
            if user is None:
                raise NotFound(i18n.gettext("Log in to see this request."))
            view = next(
                (
                    row
                    for row in authorisations.incoming_requests(db, user=user)
                    if row.request_id == locator["request_id"]
                ),
                None,
            )
            if view is None:
                raise NotFound(i18n.gettext("This request is no longer waiting for an answer."))
        self.firm_name = view.firm_name
        self.requester_name = view.requester_name
        self.organisation_name = view.organisation_name
        self.software_name = view.software_name
        self.expires = format_date(view.expires_at)
        self.client_name = getattr(view, "client_name", "")
        self.client_email = view.client_email
        self.for_another_address = getattr(view, "for_another_address", False)

    @rx.event
    def load(self) -> Updates:
        """Show the request, or say clearly why the link no longer works."""
        self.problem = self.outcome = self.decline_reason = ""
        self.answer_for_address = False

        def look_up(db: Session) -> None:
            user = self._current_user(db)
            zone = environments.time_zone_of_authorisation_link(db, **self._locator())
            try:
                with in_time_zone(zone):  # the requesting environment's, as in its email
                    self._view(db, user)
            except (InvalidToken, NotFound) as error:
                self.problem = error.message
                self.loaded = True
                return
            self.choices = []
            if user is not None:
                own = organisations.list_own_organisations(db, actor=user)
                self.choices = [OrganisationChoice(value=str(o.id), label=o.name) for o in own]
                matching = [o for o in own if o.name.lower() == self.organisation_name.lower()]
                self.choice = str(matching[0].id) if matching else NEW_ORGANISATION
            self.loaded = True

        return self._load_public(look_up)

    @rx.event
    def set_choice(self, value: str) -> None:
        """Which organisation the answer is for."""
        self.choice = value

    @rx.event
    def set_answer_for_address(self, value: bool) -> None:
        """The user says (or unsays) they may answer for the address the request was sent to."""
        self.answer_for_address = value is True

    @rx.event
    def set_decline_reason(self, value: str) -> None:
        """The optional reason for declining."""
        self.decline_reason = value[:500]

    def _answering(self, answer: Callable[[Session, User], Any]) -> Callable[[Session, User], Any]:
        """An answer to the request; a link that stopped working meanwhile is explained instead."""

        def action(db: Session, user: User) -> Any:
            try:
                return answer(db, user)
            except InvalidToken as error:
                self.problem = error.message
                return None

        return action

    @rx.event
    def accept(self, form: dict[str, Any]) -> Updates:
        """Accept for the chosen (or a new) organisation."""

        def answer(db: Session, user: User) -> Any:
            new_organisation = None
            organisation_id = None
            if self.choice == NEW_ORGANISATION:
                new_organisation = {
                    key: form.get(key, "")
                    for key in ("name", "kvk_number", "vat_number", "street", "postal_code", "city")
                }
            else:
                organisation_id = int(self.choice)
            outcome = authorisations.accept_request(
                db,
                user=user,
                organisation_id=organisation_id,
                new_organisation=new_organisation,
                answer_for_address=self.answer_for_address,
                **self._locator(),
            )
            self.outcome = i18n.gettext(
                "You accepted. {firm} is now your partner and has access to {organisation}.",
                firm=outcome.firm_name,
                organisation=outcome.organisation_name,
            )
            return rx.toast.success(i18n.gettext("Request accepted."))

        return self._act(self._answering(answer), form=form)

    @rx.event
    def decline(self, action_id: str | None = None) -> Updates:
        """Decline; the accountant is told (with the reason, if given)."""

        def answer(db: Session, user: User) -> Any:
            authorisations.decline_request(
                db,
                user=user,
                reason=self.decline_reason,
                answer_for_address=self.answer_for_address,
                **self._locator(),
            )
            self.outcome = i18n.gettext(
                "You declined the request. {firm} has been told.", firm=self.firm_name
            )
            return rx.toast.success(i18n.gettext("Request declined."))

        return self._act(self._answering(answer), busy_with=DECLINE, action_id=action_id)


def _summary() -> rx.Component:
    return rx.vstack(
        rx.text(
            t_rich(
                i18n.N_(
                    "{requester} of {firm} asks for access to {organisation} to connect your accounting software "
                    "({software})."
                ),
                requester=rx.text.strong(ActivateState.requester_name),
                firm=rx.text.strong(ActivateState.firm_name),
                organisation=rx.text.strong(ActivateState.organisation_name),
                software=ActivateState.software_name,
            ),
        ),
        rx.callout(
            t(
                "Accepting creates a partnership between your environment and {firm}. They become a member of "
                "the organisation and can retrieve the connection keys for your accounting software. You can end "
                "the partnership at any time.",
                firm=ActivateState.firm_name,
            ),
            icon="info",
            color_scheme="gray",
            size="1",
        ),
        rx.text(
            t_rich(
                i18n.N_("This request was sent to {address}. It is valid until {expires}."),
                address=rx.text.strong(ActivateState.client_email, id="request-sent-to"),
                expires=ActivateState.expires,
            ),
            size="2",
        ),
        spacing="3",
        width="100%",
    )


def _logged_out_choices() -> rx.Component:
    return rx.vstack(
        rx.text(t("Log in to answer, or create a free account if you do not have one yet."), size="2"),
        rx.hstack(
            rx.link(rx.button(t("Log in"), size="3"), href=routes.LOGIN + ActivateState.account_query),
            rx.link(
                rx.button(t("Create account"), size="3", variant="soft"),
                href=routes.SIGNUP + ActivateState.account_query,
            ),
            spacing="3",
        ),
        spacing="3",
        width="100%",
    )


def _answer_for_address() -> rx.Component:
    """Through a forwarded link (or before the address is confirmed): say so, and ask first."""
    return rx.cond(
        ActivateState.for_another_address,
        rx.vstack(
            rx.callout(
                rx.text(
                    t_rich(
                        i18n.N_(
                            "This request was sent to {address}, which is not a confirmed address of your account "
                            "({account}). Answer it only if you are allowed to answer for {same_address}."
                        ),
                        address=rx.text.strong(ActivateState.client_email),
                        account=ActivateState.user_email,
                        same_address=ActivateState.client_email,
                    ),
                ),
                icon="triangle_alert",
                color_scheme="amber",
                role="alert",
                width="100%",
            ),
            rx.checkbox(
                t("I am allowed to answer for {address}", address=ActivateState.client_email),
                checked=ActivateState.answer_for_address,
                on_change=ActivateState.set_answer_for_address,
                id="answer-for-address",
            ),
            field_error(ActivateState.field_errors, ANSWER_FOR_ADDRESS_FIELD),
            spacing="2",
            width="100%",
        ),
    )


def _new_organisation_fields() -> rx.Component:
    errors = ActivateState.field_errors
    return rx.vstack(
        text_field(t("Organisation name"), "name", errors, default_value=ActivateState.organisation_name),
        text_field(t("KvK number"), "kvk_number", errors, hint=t("8 digits, from the Chamber of Commerce; a Belgian enterprise number has 10.")),
        text_field(
            t("VAT number"), "vat_number", errors, hint=t("Optional, e.g. NL123456782B01 or BE0123456749.")
        ),
        text_field(t("City"), "city", errors),
        spacing="3",
        width="100%",
    )


def _answer_form() -> rx.Component:
    return app_form(
        rx.vstack(
            rx.text(
                t("Which of your organisations is this for?"),
                weight="medium",
                size="2",
                id="organisation-choice",
            ),
            rx.radio_group.root(
                rx.vstack(
                    rx.foreach(
                        ActivateState.choices,
                        lambda choice: rx.el.label(
                            rx.hstack(
                                rx.radio_group.item(value=choice.value), rx.text(choice.label), spacing="2"
                            ),
                        ),
                    ),
                    rx.el.label(
                        rx.hstack(
                            rx.radio_group.item(value=NEW_ORGANISATION),
                            rx.text(t("A new organisation")),
                            spacing="2",
                        )
                    ),
                    spacing="2",
                ),
                value=ActivateState.choice,
                on_change=ActivateState.set_choice,
                aria_labelledby="organisation-choice",
            ),
            field_error(ActivateState.field_errors, "organisation"),
            rx.cond(ActivateState.choice == NEW_ORGANISATION, _new_organisation_fields()),
            submit_button(t("Accept"), submitting(ActivateState.accept), width="100%"),
            spacing="3",
            width="100%",
        ),
        on_submit=ActivateState.accept,
    )


def _decline_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(
                t("Decline"),
                variant="soft",
                color_scheme="red",
                size="3",
                width="100%",
                loading=is_busy_with(DECLINE),
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(t("Decline this request?")),
            rx.alert_dialog.description(
                t("{firm} will be told that you declined.", firm=ActivateState.firm_name)
            ),
            rx.el.label(rx.text(t("Reason (optional)"), size="2"), html_for="decline-reason"),
            rx.text_area(
                id="decline-reason",
                value=ActivateState.decline_reason,
                on_change=ActivateState.set_decline_reason,
                max_length=500,
            ),
            field_error(ActivateState.field_errors, "reason"),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button(t("Cancel"), variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        t("Decline"), color_scheme="red", on_click=ActivateState.decline(AuthState.action_id)
                    )
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


def activate_page() -> rx.Component:
    """The page."""
    return public_layout(
        t("Authorisation request"),
        rx.cond(
            ~ActivateState.loaded,
            rx.center(rx.spinner(), padding="24px", aria_label=t("Loading the request")),
            rx.cond(
                ActivateState.problem != "",
                rx.vstack(
                    rx.callout(
                        ActivateState.problem, icon="triangle_alert", color_scheme="amber", role="alert"
                    ),
                    rx.link(t("Go to eConnect"), href="/", size="2"),
                    spacing="3",
                ),
                rx.cond(
                    ActivateState.outcome != "",
                    rx.vstack(
                        rx.callout(
                            ActivateState.outcome, icon="circle_check", color_scheme="green", role="status"
                        ),
                        rx.link(rx.button(t("Go to my dashboard")), href=routes.DASHBOARD),
                        spacing="3",
                    ),
                    rx.vstack(
                        _summary(),
                        rx.separator(),
                        rx.cond(
                            ActivateState.signed_in,
                            rx.vstack(
                                rx.text(
                                    t(
                                        "Logged in as {email} ({environment})",
                                        email=ActivateState.user_email,
                                        environment=ActivateState.environment_name,
                                    ),
                                    size="1",
                                    color_scheme="gray",
                                ),
                                _answer_for_address(),
                                _answer_form(),
                                _decline_dialog(),
                                spacing="3",
                                width="100%",
                            ),
                            _logged_out_choices(),
                        ),
                        spacing="4",
                        width="100%",
                    ),
                ),
            ),
        ),
    )
