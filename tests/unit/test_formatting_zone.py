"""Dates and times in the time zone in effect, with the zone named (``formatting``)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from econnect_app.formatting import (
    DEFAULT_TIME_ZONE,
    format_date,
    format_datetime,
    in_time_zone,
    time_zone_in_effect,
)
from econnect_app.mail.messages import render_message

WINTER = datetime(2025, 3, 3, 14, 5, tzinfo=UTC)
SUMMER = datetime(2025, 7, 3, 14, 5, tzinfo=UTC)
LATE_EVENING_UTC = datetime(2025, 3, 3, 23, 30, tzinfo=UTC)


def test_the_default_is_amsterdam_in_winter_and_summer_time() -> None:
    assert time_zone_in_effect().key == DEFAULT_TIME_ZONE == "Europe/Amsterdam"
    assert format_datetime(WINTER) == "3 Mar 2025, 15:05 CET"
    assert format_datetime(SUMMER) == "3 Jul 2025, 16:05 CEST"


def test_another_zone_is_used_inside_in_time_zone_and_named() -> None:
    with in_time_zone("Europe/London"):
        assert format_datetime(WINTER) == "3 Mar 2025, 14:05 GMT"
        assert format_datetime(SUMMER) == "3 Jul 2025, 15:05 BST"
        with in_time_zone("UTC"):
            assert format_datetime(WINTER) == "3 Mar 2025, 14:05 UTC"
        assert format_datetime(WINTER) == "3 Mar 2025, 14:05 GMT"
    assert format_datetime(WINTER) == "3 Mar 2025, 15:05 CET"


def test_a_zone_without_a_letter_abbreviation_is_named_by_its_key() -> None:
    with in_time_zone("Asia/Dubai"):  # its abbreviation is "+04"
        assert format_datetime(WINTER) == "3 Mar 2025, 18:05 Asia/Dubai"


def test_an_empty_or_unknown_zone_falls_back_to_the_default() -> None:
    for name in (None, "", "Mars/Olympus_Mons", "../../etc/passwd"):
        with in_time_zone(name):
            assert format_datetime(WINTER) == "3 Mar 2025, 15:05 CET"


def test_a_date_is_the_day_in_the_zone_in_effect() -> None:
    assert format_date(WINTER) == "3 March 2025"
    assert format_date(LATE_EVENING_UTC) == "4 March 2025"  # 00:30 in Amsterdam
    with in_time_zone("Europe/London"):
        assert format_date(LATE_EVENING_UTC) == "3 March 2025"


def test_a_missing_moment_is_a_dash_or_what_the_caller_asks() -> None:
    assert format_datetime(None) == "—"
    assert format_datetime(None, missing="") == ""


def test_the_zone_is_local_to_each_thread() -> None:
    seen: list[str] = []
    with in_time_zone("Europe/London"):
        thread = threading.Thread(target=lambda: seen.append(format_datetime(WINTER)))
        thread.start()
        thread.join()
        assert format_datetime(WINTER) == "3 Mar 2025, 14:05 GMT"
    assert seen == ["3 Mar 2025, 15:05 CET"]


def test_emails_write_moments_in_the_zone_in_effect() -> None:
    context = {
        "name": "Ada",
        "email": "ada@example.com",
        "how": "changed on the profile page",
        "when": SUMMER,
        "reset_link": "http://localhost:3000/forgot-password",
    }
    assert "on 3 Jul 2025, 16:05 CEST." in render_message("password_changed", context).text_body
    with in_time_zone("Europe/London"):
        message = render_message("password_changed", context)
    assert "on 3 Jul 2025, 15:05 BST." in message.text_body
    assert "on 3 Jul 2025, 15:05 BST." in message.html_body
