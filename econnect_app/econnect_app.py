"""The Reflex app: every page registered in one place; no logic here."""

from typing import Any

import reflex as rx

import econnect_app.models  # noqa: F401  (registers the tables for migrations)
from econnect_app import routes
from econnect_app.components.translated import tab_title
from econnect_app.edge import EConnectApp
from econnect_app.exports.worker import export_loop
from econnect_app.i18n import N_
from econnect_app.mail.delivery import delivery_loop
from econnect_app.maintenance import expiry_loop
from econnect_app.pages.activate import ActivateState, activate_page
from econnect_app.pages.activity import ActivityState, activity_page
from econnect_app.pages.authorisations import AuthorisationsState, authorisations_page
from econnect_app.pages.client_connect import ClientConnectPageState, client_connect_page
from econnect_app.pages.configurations import ConfigurationsState, configurations_page
from econnect_app.pages.confirm_email import ConfirmEmailState, confirm_email_page
from econnect_app.pages.dashboard import DashboardState, dashboard_page
from econnect_app.pages.dev_mailbox import DevMailboxState, dev_mailbox_page
from econnect_app.pages.documents import DocumentsState, documents_page
from econnect_app.pages.find_partners import FindPartnersState, find_partners_page
from econnect_app.pages.forgot_password import (
    ForgotPasswordState,
    ResetPasswordState,
    forgot_password_page,
    reset_password_page,
)
from econnect_app.pages.invitation import InvitationState, invitation_page
from econnect_app.pages.keys import KeysState, keys_page
from econnect_app.pages.login import login_page
from econnect_app.pages.members import MembersState, members_page
from econnect_app.pages.new_authorisation import NewAuthorisationState, new_authorisation_page
from econnect_app.pages.oauth_callback import OAuthCallbackState, oauth_callback_page
from econnect_app.pages.organisation import OrganisationState, organisation_page
from econnect_app.pages.organisation_accounting import AccountingConnectionState
from econnect_app.pages.organisation_client_connect import ClientConnectState
from econnect_app.pages.organisations import OrganisationsState, onboarding_page, organisations_page
from econnect_app.pages.partners import PartnersState, partners_page
from econnect_app.pages.profile import ProfileState, profile_page
from econnect_app.pages.relationship_request import RelationshipRequestState, relationship_request_page
from econnect_app.pages.settings import SettingsState, settings_page
from econnect_app.pages.signup import SignupState, signup_page
from econnect_app.pages.users import UsersState, users_page
from econnect_app.reminders_worker import reminder_loop
from econnect_app.settings import get_settings
from econnect_app.state.auth import AuthState
from econnect_app.state.live import live_updates_task

# Served through econnect_app.edge: /api/v1 for accounting software in front of Reflex's routing,
# and the security headers on every answer (pages, API, the rest).
app = EConnectApp(
    head_components=[rx.el.link(rel="stylesheet", href="/styles.css")],
    # Bottom right: outcomes stay readable without covering the page title or its header buttons.
    toaster=rx.toast.provider(position="bottom-right", close_button=True, duration=4000, rich_colors=True),
)
# Outbox delivery runs inside the backend when ECONNECT_SMTP_URL is set (returns at once otherwise).
app.register_lifespan_task(delivery_loop)
app.register_lifespan_task(expiry_loop)
app.register_lifespan_task(reminder_loop)  # automatic reminders to pending clients
# Documents with an active online connection go to the accountant's SFTP server or cloud folder.
app.register_lifespan_task(export_loop)
# Live updates: changes published by the services are pushed into the open tabs of that environment.
app.register_lifespan_task(live_updates_task)


def add_page(component: Any, *, route: str, title: str, on_load: Any) -> None:
    """Add a page that first shows itself in the tab's language (``AuthState.pick_language``), its
    browser tab's title too: ``title`` names the page, marked with ``N_`` for the catalogue."""
    events = on_load if isinstance(on_load, list) else [on_load]
    app.add_page(component, route=route, title=tab_title(title), on_load=[AuthState.pick_language, *events])


# Public pages.
add_page(rx.center(rx.spinner(size="3"), height="100vh"), route="/", title="eConnect", on_load=AuthState.route_home)
add_page(signup_page, route=routes.SIGNUP, title=N_("Create account"), on_load=[AuthState.redirect_if_signed_in, SignupState.start_over])
add_page(login_page, route=routes.LOGIN, title=N_("Log in"), on_load=AuthState.redirect_if_signed_in)
add_page(forgot_password_page, route=routes.FORGOT_PASSWORD, title=N_("Forgot password"), on_load=ForgotPasswordState.start_over)
add_page(reset_password_page, route=routes.RESET_PASSWORD, title=N_("New password"), on_load=ResetPasswordState.check_link)
add_page(invitation_page, route=routes.ACCEPT_INVITATION, title=N_("Invitation"), on_load=InvitationState.load)
add_page(activate_page, route=routes.ACTIVATE, title=N_("Authorisation request"), on_load=ActivateState.load)
add_page(relationship_request_page, route=routes.RELATIONSHIP_REQUEST, title=N_("Relationship request"), on_load=RelationshipRequestState.load)
add_page(confirm_email_page, route=routes.CONFIRM_EMAIL, title=N_("Confirm email"), on_load=ConfirmEmailState.load)
add_page(client_connect_page, route=routes.CLIENT_CONNECT, title=N_("Client Connect"), on_load=ClientConnectPageState.load)

# Signed-in pages: the session is re-validated on every load.
add_page(onboarding_page, route=routes.ONBOARDING, title=N_("Welcome"), on_load=[AuthState.require_login, OrganisationsState.load])
add_page(dashboard_page, route=routes.DASHBOARD, title=N_("Dashboard"), on_load=[AuthState.require_login, DashboardState.load, PartnersState.load])
add_page(activity_page, route=routes.ACTIVITY, title=N_("Activity"), on_load=[AuthState.require_login, ActivityState.load])
add_page(organisations_page, route=routes.ORGANISATIONS, title=N_("Organisations"), on_load=[AuthState.require_login, OrganisationsState.load])
add_page(organisation_page, route=routes.ORGANISATION, title=N_("Organisation"), on_load=[AuthState.require_login, OrganisationState.load, ClientConnectState.load, AccountingConnectionState.load])
add_page(documents_page, route=routes.ORGANISATION_DOCUMENTS, title=N_("Documents"), on_load=[AuthState.require_login, DocumentsState.load])
add_page(configurations_page, route=routes.CONFIGURATIONS, title=N_("Configurations"), on_load=[AuthState.require_login, ConfigurationsState.load])
add_page(oauth_callback_page, route=routes.OAUTH_CALLBACK, title=N_("Configurations"), on_load=[AuthState.require_login, OAuthCallbackState.finish])
add_page(members_page, route=routes.ORGANISATION_MEMBERS, title=N_("Members"), on_load=[AuthState.require_login, MembersState.load])
add_page(partners_page, route=routes.PARTNERS, title=N_("Partners"), on_load=[AuthState.require_login, PartnersState.load])
add_page(find_partners_page, route=routes.FIND_PARTNERS, title=N_("Find partners"), on_load=[AuthState.require_login, FindPartnersState.load])
add_page(authorisations_page, route=routes.AUTHORISATIONS, title=N_("Authorisations"), on_load=[AuthState.require_login, AuthorisationsState.load])
add_page(new_authorisation_page, route=routes.NEW_AUTHORISATION, title=N_("New authorisation request"), on_load=[AuthState.require_login, NewAuthorisationState.load])
add_page(activate_page, route=routes.INCOMING_AUTHORISATION, title=N_("Authorisation request"), on_load=[AuthState.require_login, ActivateState.load])
add_page(keys_page, route=routes.KEYS, title=N_("Connection keys"), on_load=[AuthState.require_login, KeysState.load])
add_page(users_page, route=routes.USERS, title=N_("Users"), on_load=[AuthState.require_login, UsersState.load])
add_page(settings_page, route=routes.SETTINGS, title=N_("Settings"), on_load=[AuthState.require_login, SettingsState.load])
add_page(profile_page, route=routes.PROFILE, title=N_("My profile"), on_load=[AuthState.require_login, ProfileState.load])

# Development only: the outbox as a mailbox (the page refuses to show anything without it). In
# production the route does not exist: neither compiled into the frontend nor known to the backend.
if get_settings().dev_mode:
    add_page(dev_mailbox_page, route=routes.DEV_MAILBOX, title=N_("Mailbox"), on_load=DevMailboxState.load)
