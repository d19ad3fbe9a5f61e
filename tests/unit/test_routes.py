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
        ("%2Factivate%2Fabc", "/activate/abc"),
        ("/dashboard/", "/dashboard"),  # production's static server adds the slash
        ("/users?tab=invited", "/users?tab=invited"),
        ("/", "/"),
    ],
)
def test_local_paths_are_kept(value: str, expected: str) -> None:
    assert safe_next_path(value, "/fallback") == expected


@pytest.mark.parametrize("value", [None, "", "https://evil.example", "//evil.example", "/\\evil", "dashboard"])
def test_anything_else_goes_to_the_default(value: str | None) -> None:
    assert safe_next_path(value, "/fallback") == "/fallback"


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
