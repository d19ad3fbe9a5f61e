"""The activity log as a CSV file, safe to open in a spreadsheet (no Reflex).

Summaries quote what people typed (names of organisations and people), so a cell could start
with ``=``, ``+``, ``-`` or ``@`` and a spreadsheet would run it as a formula (CSV injection);
tab and carriage return start one too in some programs. Such a cell gets a single quote in front
(``neutralise``), which spreadsheets show as text. The file is UTF-8 with a byte order mark, so
Excel reads accented names right; the ``csv`` module does the quoting.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import date, datetime

from econnect_app import i18n
from econnect_app.services.activity_log import ActivityEntry

# The column headers, marked for translation (written in the language in effect).
HEADER = (i18n.N_("Time"), i18n.N_("Who"), i18n.N_("What"), i18n.N_("Organisation"), i18n.N_("Summary"))
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BYTE_ORDER_MARK = "\ufeff"


def neutralise(cell: str) -> str:
    """``cell`` as text a spreadsheet will not run: a leading ``'`` when it starts like a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_text(rows: Iterable[Iterable[str]]) -> str:
    """Rows as CSV (the header first among them, if any), every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([neutralise(str(cell)) for cell in row])
    return buffer.getvalue()


def activity_csv(entries: Iterable[ActivityEntry], *, format_time: Callable[[datetime], str]) -> str:
    """The export's file: a byte order mark, the header, then one line per entry."""
    lines = (
        (format_time(entry.created_at), entry.who, entry.what, entry.organisation, entry.summary)
        for entry in entries
    )
    header = [i18n.gettext(column) for column in HEADER]
    return BYTE_ORDER_MARK + csv_text([header, *lines])


def export_filename(day: date) -> str:
    """``activity-2026-12-02.csv``."""
    return f"activity-{day.isoformat()}.csv"
