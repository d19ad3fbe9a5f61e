"""`make bench`'s runner (benchmarks/run_all.py) at tiny sizes: the search, the paged lists, the CSV preview, the page load and the
bulk requests run (the last two in one production-mode app, in Chromium), and one JSON holds every
figure next to its floor.

Timings at this size are noise on a shared machine, so the test asserts what holds anywhere (every
benchmark completed, nothing was lost, each figure has its floor, the exit status agrees with the
targets), never a time. Under `make test-scale` (ECONNECT_E2E_WORKERS=2 with PostgreSQL and Redis)
it runs the scale-out configuration instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from benchmarks import run_all

SCALE_OUT = os.environ.get("ECONNECT_E2E_WORKERS", "").strip() == "2"
BENCHMARKS = ("find_partners", "list_pages", "csv_preview", "page_load", "bulk_requests")


@pytest.mark.timeout(1200)  # the first production build of the frontend (bun install) takes minutes
def test_the_runner_measures_every_figure_next_to_its_floor(tmp_path: Path) -> None:
    latest = tmp_path / "latest.json"
    arguments = ["--scale", "tiny", "--only", ",".join(BENCHMARKS), "--results-dir", str(tmp_path)]

    status = run_all.main([*arguments, "--output", str(latest), *(["--scale-out"] if SCALE_OUT else [])])

    result = json.loads(latest.read_text())
    assert result["scale"] == "tiny" and result["scale_out"] is SCALE_OUT
    assert result["machine"]["cpus"] and result["machine"]["python"]
    outcomes = result["benchmarks"]
    assert set(outcomes) == set(BENCHMARKS)
    completed = {name: outcome["status"] in {"met", "missed"} for name, outcome in outcomes.items()}
    assert all(completed.values()), {name: outcome["note"] for name, outcome in outcomes.items()}
    assert status == (0 if result["all_targets_met"] else 1)
    assert result["all_targets_met"] == all(outcome["status"] == "met" for outcome in outcomes.values())

    bulk = outcomes["bulk_requests"]["result"]
    assert bulk["requests"] == bulk["saved"] == bulk["emails_accepted"] == 10
    assert bulk["nothing_lost"] is True
    assert bulk["floors_seconds"]["service"] > 0 and bulk["floors_seconds"]["smtp"] > 0

    page = outcomes["page_load"]["result"]
    assert len(page["seconds"]["cold"]) == len(page["seconds"]["warm"]) == 1
    assert page["javascript"]["files"] > 0
    assert 0 < page["javascript"]["gzip_bytes"] < page["javascript"]["decoded_bytes"]

    timed = [row for row in result["figures"] if row.get("unit") in {"s", "ms"} and row.get("floor") is not None]
    assert {row["benchmark"] for row in timed} == set(BENCHMARKS)
    assert all(row["value"] > 0 and row["floor"] > 0 and row["ratio"] > 0 for row in timed), timed
    assert (tmp_path / f"bulk_requests{'-scale-out' if SCALE_OUT else ''}.json").exists()
