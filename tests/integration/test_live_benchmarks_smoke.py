"""The live benchmarks (issue 10, part A) run end to end at tiny sizes: each starts the backend in
production mode, drives it over real websockets as browser tabs do, and writes its figures.

What is asserted is what the tabs saw, not how fast: every accept reached the accountant's open
dashboard as a pushed delta, every open dashboard got its pushes, the CSV file's requests were sent
and every log-in was answered while the bystander's round trips went on. The timings are only
checked to be there (tiny samples on a shared machine decide nothing); the full runs are
``make bench``'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import event_loop, live_latency, open_dashboards

pytestmark = pytest.mark.timeout(240)


def _run(main, tmp_path: Path, *arguments: str) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    output = tmp_path / "result.json"
    status = main(["--scale", "small", "--no-scale-out", "--output", str(output), *arguments])
    result = json.loads(output.read_text())
    assert status == (0 if result["target_met"] else 1)
    assert result["figures"] and all(figure["value"] >= 0 for figure in result["figures"])
    return status, result


def test_every_accept_reaches_the_open_dashboard(tmp_path: Path) -> None:
    _status, result = _run(live_latency.main, tmp_path, "--accepts", "3")

    assert result["delivery"]["count"] == 3  # each accept's new partnership was pushed to the dashboard
    assert result["accept_answered"]["count"] == 3
    assert result["floor"]["count"] == live_latency.SIZES["small"]["floor_round_trips"]
    assert 0 < result["floor"]["p50_ms"] and 0 < result["delivery"]["p50_ms"]


def test_every_open_dashboard_of_the_firm_gets_the_push(tmp_path: Path) -> None:
    _status, result = _run(open_dashboards.main, tmp_path, "--sizes", "2,4", "--accepts", "2", "--viewers-per-firm", "2")

    steps = result["steps"]
    assert [step["dashboards"] for step in steps] == [2, 4]
    # Two accepts per step, each pushed to both dashboards of its firm.
    assert [(step["delivery"]["count"], step["missed"]) for step in steps] == [(4, 0), (4, 0)]
    assert all(step["rss_bytes"] > 0 for step in steps)


def test_the_bystander_is_answered_while_a_file_is_imported_and_log_ins_run(tmp_path: Path) -> None:
    _status, result = _run(event_loop.main, tmp_path, "--rows", "6", "--logins", "3")

    assert result["requests_created"] == 6
    assert result["log_ins_answered"] == 3
    assert result["during"]["count"] >= 1 and result["floor"]["count"] > 0
