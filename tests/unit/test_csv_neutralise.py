"""The activity export's CSV: cells a spreadsheet would run as a formula get a leading quote;
everything else is written as it is and reads back unchanged."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from econnect_app.services.activity_export import (
    BYTE_ORDER_MARK,
    HEADER,
    activity_csv,
    csv_text,
    export_filename,
    neutralise,
)
from econnect_app.services.activity_log import ActivityEntry

DANGEROUS = [
    "=1+2",
    '=HYPERLINK("http://example.invalid","Click")',
    "+1+2",
    "-1+2",
    "@SUM(A1:A2)",
    "\t=1+2",
    "\r=1+2",
    "=",
    "-",
]
HARMLESS = [
    "",
    "Anna added organisation Bakkerij Korenbloem BV.",
    "1+2",
    "a=b",
    'Quote " inside, and a comma',
    "Line one\nline two",
    " =leading space",
    "'already quoted",
    "Ünïcödé ✓",
]


@pytest.mark.parametrize("cell", DANGEROUS)
def test_a_cell_that_starts_like_a_formula_gets_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", HARMLESS)
def test_other_text_is_untouched(cell: str) -> None:
    assert neutralise(cell) == cell


def test_round_trip_through_csv_reader() -> None:
    rows = [list(HEADER), DANGEROUS[:5], DANGEROUS[5:] + ["x"], HARMLESS[:5], HARMLESS[5:] + ["y"]]
    text = csv_text(rows)
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read == [[neutralise(cell) for cell in row] for row in rows]
    assert read[1] == [
        "'=1+2",
        '\'=HYPERLINK("http://example.invalid","Click")',
        "'+1+2",
        "'-1+2",
        "'@SUM(A1:A2)",
    ]
    assert read[2][:2] == ["'\t=1+2", "'\r=1+2"]
    assert read[3] == HARMLESS[:5]
    assert read[4] == HARMLESS[5:] + ["y"]


def test_activity_csv_has_the_header_and_a_line_per_entry() -> None:
    moment = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    entries = [
        ActivityEntry(
            id=1,
            created_at=moment,
            who="=cmd|' /C calc'!A0",
            action="organisation.added",
            what="Organisation added",
            organisation='=HYPERLINK("http://example.invalid")',
            summary="-1+2 added organisation =HYPERLINK",
        ),
        ActivityEntry(
            id=2,
            created_at=moment,
            who="Anna",
            action="user.signed_up",
            what="Signed up",
            organisation="",
            summary="Anna signed up.",
        ),
    ]
    text = activity_csv(entries, format_time=lambda when: when.strftime("%Y-%m-%d %H:%M"))
    assert text.startswith(BYTE_ORDER_MARK)
    read = list(csv.reader(io.StringIO(text.removeprefix(BYTE_ORDER_MARK), newline="")))
    assert read == [
        ["Time", "Who", "What", "Organisation", "Summary"],
        [
            "2026-03-02 09:30",
            "'=cmd|' /C calc'!A0",
            "Organisation added",
            '\'=HYPERLINK("http://example.invalid")',
            "'-1+2 added organisation =HYPERLINK",
        ],
        ["2026-03-02 09:30", "Anna", "Signed up", "", "Anna signed up."],
    ]


def test_export_filename_is_dated() -> None:
    assert export_filename(date(2026, 12, 2)) == "activity-2026-12-02.csv"
