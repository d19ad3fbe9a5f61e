"""Route constants and builders (the product's public URLs, see SPEC.md)."""

from __future__ import annotations

from urllib.parse import unquote

from econnect_app.settings import get_settings

SIGNUP = "/signup"
LOGIN = "/login"
LOGOUT = "/logout"
FORGOT_PASSWORD = "/forgot-password"
RESET_PASSWORD = "/reset-password/[token]"
ACCEPT_INVITATION = "/invitation/[token]"
CONFIRM_EMAIL = "/confirm-email/[token]"
ACTIVATE = "/activate/[token]"
ONBOARDING = "/onboarding"
DASHBOARD = "/dashboard"
ORGANISATIONS = "/organisations"
AUTHORISATIONS = "/authorisations"
NEW_AUTHORISATION = "/authorisations/new"
INCOMING_AUTHORISATION = "/authorisations/incoming/[request_id]"
PARTNERS = "/partners"
FIND_PARTNERS = "/partners/find"
RELATIONSHIP_REQUEST = "/relationship-requests/[token]"
ORGANISATION = "/organisations/[organisation_id]"
ORGANISATION_MEMBERS = "/organisations/[organisation_id]/members"
KEYS = "/keys"
USERS = "/users"
PROFILE = "/profile"
SETTINGS = "/settings"
DEV_MAILBOX = "/dev/mailbox"


def _fill(route: str, token: str) -> str:
    return route.replace("[token]", token)


def reset_password(token: str) -> str:
    """Path of a password reset link."""
    return _fill(RESET_PASSWORD, token)


def accept_invitation(token: str) -> str:
    """Path of an invitation link."""
    return _fill(ACCEPT_INVITATION, token)


def confirm_email(token: str) -> str:
    """Path of an email confirmation link."""
    return _fill(CONFIRM_EMAIL, token)


def activate(token: str) -> str:
    """Path of an authorisation request's activation link."""
    return _fill(ACTIVATE, token)


def relationship_request(token: str) -> str:
    """Path of a relationship request's accept/decline link."""
    return _fill(RELATIONSHIP_REQUEST, token)


def organisation(organisation_id: int) -> str:
    """Path of one organisation's page."""
    return ORGANISATION.replace("[organisation_id]", str(organisation_id))


def organisation_members(organisation_id: int) -> str:
    """Path of one organisation's member management."""
    return ORGANISATION_MEMBERS.replace("[organisation_id]", str(organisation_id))


def absolute(path: str) -> str:
    """A full URL for emails, based on ECONNECT_PUBLIC_URL."""
    return get_settings().public_url + path


def safe_next_path(value: str | None, default: str) -> str:
    """A local path to continue to after logging in (never another site).

    A trailing slash is dropped ("/dashboard/" -> "/dashboard"): in production Reflex's static
    server redirects a typed "/dashboard" to "/dashboard/".
    """
    value = unquote(value or "")
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        path, mark, query = value.partition("?")
        return (path.rstrip("/") or "/") + mark + query
    return default


def organisation_id_in(path: str) -> int:
    """The organisation id in ``/organisations/<id>`` or ``/organisations/<id>/members`` (0 when
    there is none)."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == ORGANISATIONS.strip("/") and parts[1].isdigit() and len(parts[1]) < 10:
        return int(parts[1])
    return 0


def last_path_segment(path: str) -> str:
    """The token at the end of a path such as ``/reset-password/<token>``."""
    return path.rstrip("/").rsplit("/", 1)[-1]
