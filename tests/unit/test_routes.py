"""Where a user may be sent after logging in."""

import pytest

from econnect_app.routes import (
    last_path_segment,
    organisation,
    organisation_id_in,
    organisation_members,
    safe_next_path,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/dashboard", "/dashboard"),
        ("/activate/abc-DEF_123", "/activate/abc-DEF_123"),  # the decoded ?next=%2Factivate%2F...
        ("/dashboard/", "/dashboard"),  # production's static server adds the slash
        ("/users?tab=invited", "/users?tab=invited"),
        ("/organisations/12/members", "/organisations/12/members"),
        ("/authorisations/incoming/7", "/authorisations/incoming/7"),
        ("/", "/"),
    ],
)
def test_local_paths_of_the_apps_pages_are_kept(value: str, expected: str) -> None:
    assert safe_next_path(value, "/fallback") == expected


# Known open-redirect payloads (PayloadsAllTheThings' "Open Redirect" list and its bypasses), as
# they reach safe_next_path: the ``next`` query parameter already decoded once by the router.
OPEN_REDIRECT_PAYLOADS = [
    "//evil.com",
    "///evil.com",
    "////evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "\\/evil.com",
    "/%2F%2Fevil.com",
    "/%2f%2fevil.com",
    "/%252F%252Fevil.com",  # double-encoded
    "/%5Cevil.com",
    "/%5cevil.com",
    "/%255Cevil.com",
    "/%09/evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    "/\x00/evil.com",
    " /dashboard",
    "/dashboard\x0b",
    "/.evil.com",
    "/evil.com",
    "/../evil.com",
    "/dashboard/../../evil.com",
    "/./dashboard",
    "/%2e%2e/evil.com",
    "https:evil.com",
    "https://evil.com",
    "http:/evil.com",
    "//evil.com/%2F..",
    "/https://evil.com",
    "//google.com%2F%2Eevil.com",
    "javascript:alert(1)",
    "javascript://%0aalert(1)",
    "/javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.com",
    "@evil.com",
    "/@evil.com",
    "/dashboard@evil.com",
    "/activate/abc/../../evil.com",
    "/activate/abc%2F..%2F..%2Fevil.com",
    "/activate/<script>",
    "/activate/",
    "/organisations/12/members/extra",
    "/logout",
    "/dashboard?next=//evil.com",
    "/dashboard?x=%2F%2Fevil.com",
    "/dashboard#//evil.com",
    "/\u2215\u2215evil.com",  # division slashes
    "/\uff0f\uff0fevil.com",  # full-width solidus
    "/dashboard\u200b",
    "dashboard",
    "",
    None,
]


@pytest.mark.parametrize("value", OPEN_REDIRECT_PAYLOADS)
def test_open_redirect_payloads_go_to_the_default(value: str | None) -> None:
    assert safe_next_path(value, "/fallback") == "/fallback"


def test_a_non_string_goes_to_the_default() -> None:
    assert safe_next_path(["/dashboard"], "/fallback") == "/fallback"  # type: ignore[arg-type]


def test_the_token_is_the_last_path_segment() -> None:
    assert last_path_segment("/reset-password/abc-DEF_123/") == "abc-DEF_123"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/organisations/12", 12),
        ("/organisations/12/", 12),
        ("/organisations/12/members", 12),
        ("/organisations", 0),
        ("/organisations/abc/members", 0),
        ("/organisations/99999999999", 0),
        ("/users/12", 0),
    ],
)
def test_the_organisation_id_of_an_organisation_page(path: str, expected: int) -> None:
    assert organisation_id_in(path) == expected


def test_organisation_links() -> None:
    assert organisation(7) == "/organisations/7"
    assert organisation_members(7) == "/organisations/7/members"
