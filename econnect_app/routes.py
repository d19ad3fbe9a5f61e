"""Route constants and builders (the product's public URLs, see SPEC.md)."""

from __future__ import annotations

import re

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
ACTIVITY = "/activity"
ORGANISATIONS = "/organisations"
AUTHORISATIONS = "/authorisations"
NEW_AUTHORISATION = "/authorisations/new"
INCOMING_AUTHORISATION = "/authorisations/incoming/[request_id]"
PARTNERS = "/partners"
FIND_PARTNERS = "/partners/find"
RELATIONSHIP_REQUEST = "/relationship-requests/[token]"
ORGANISATION = "/organisations/[organisation_id]"
ORGANISATION_MEMBERS = "/organisations/[organisation_id]/members"
ORGANISATION_DOCUMENTS = "/organisations/[organisation_id]/documents"
CONFIGURATIONS = "/configurations"
# Where Dropbox / Octopus send the browser back after "Sign in with ..." (?code=...&state=...).
OAUTH_CALLBACK = "/configurations/oauth/[provider]"
CLIENT_CONNECT = "/connect/[token]"
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


def organisation_documents(organisation_id: int) -> str:
    """Path of one organisation's documents."""
    return ORGANISATION_DOCUMENTS.replace("[organisation_id]", str(organisation_id))


def oauth_callback(provider: str) -> str:
    """Path the OAuth provider (``dropbox`` / ``octopus``) redirects back to."""
    return OAUTH_CALLBACK.replace("[provider]", provider)


def client_connect(token: str) -> str:
    """Path of a Client Connect link."""
    return _fill(CLIENT_CONNECT, token)


def absolute(path: str) -> str:
    """A full URL for emails, based on ECONNECT_PUBLIC_URL."""
    return get_settings().public_url + path


# Where ``next=`` may lead: every page route above but the log-out path (a sign-in that logs out).
_NOT_A_NEXT_PATH = frozenset({LOGOUT})
# A value for a dynamic segment ("[token]", "[organisation_id]"): tokens are URL-safe base64, ids digits.
_DYNAMIC_SEGMENT_VALUE = re.compile(r"[A-Za-z0-9_-]{1,200}")
# A query kept after the path: plain parameters only (no percent escapes, no slashes).
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.~=&+-]{0,500}")


def page_routes() -> tuple[str, ...]:
    """Every route constant of this module ("/" included) that a user may be sent to."""
    constants = (
        value
        for name, value in globals().items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
    )
    return ("/", *(route for route in constants if route.startswith("/") and route not in _NOT_A_NEXT_PATH))


def _matches_route(path: str, route: str) -> bool:
    """Whether ``path`` is ``route`` with each "[segment]" filled by a plain token or id."""
    parts, route_parts = path.split("/"), route.split("/")
    if len(parts) != len(route_parts):
        return False
    for part, route_part in zip(parts, route_parts, strict=True):
        if route_part.startswith("[") and route_part.endswith("]"):
            if not _DYNAMIC_SEGMENT_VALUE.fullmatch(part):
                return False
        elif part != route_part:
            return False
    return True


def safe_next_path(value: str | None, default: str) -> str:
    """A path of one of this app's pages to continue to after logging in, else ``default``.

    ``value`` is the decoded ``next`` query parameter. Only a path made of one page route (its
    dynamic segments filled with a plain token or id) is kept, with an optional plain query;
    anything else goes to ``default``: other sites ("//host", "https:...", "/\\host"), control
    characters, backslashes, percent escapes (an encoded slash decoded later), unknown paths.
    A trailing slash is dropped ("/dashboard/" -> "/dashboard"): in production Reflex's static
    server redirects a typed "/dashboard" to "/dashboard/".
    """
    if not isinstance(value, str) or not value.startswith("/") or len(value) > 1000:
        return default
    path, mark, query = value.partition("?")
    if not _PLAIN_QUERY.fullmatch(query):
        return default
    path = path.rstrip("/") or "/"
    if path != "/" and "//" in path:
        return default
    if not any(_matches_route(path, route) for route in page_routes()):
        return default
    return path + mark + query


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
