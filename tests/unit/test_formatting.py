"""One way to write dates and times, in pages and emails."""

from datetime import UTC, datetime

from econnect_app.formatting import format_date, format_datetime


def test_dates_read_as_people_write_them() -> None:
    assert format_date(datetime(2025, 3, 3, 14, 5, tzinfo=UTC)) == "3 March 2025"


def test_moments_in_lists_carry_the_time_zone_and_a_dash_when_missing() -> None:
    assert format_datetime(datetime(2025, 3, 3, 14, 5, tzinfo=UTC)) == "3 Mar 2025, 15:05 CET"
    assert format_datetime(None) == "—"
    assert format_datetime(None, missing="") == ""
