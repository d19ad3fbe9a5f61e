"""Every benchmark, one combined table: ``make bench`` (``BENCH_SCALE=small``, ``BENCH_SCALE_OUT=1``).

Runs each benchmark module in turn, reads the JSON each one writes, prints one table of every figure
next to its floor (measured in the same run) and writes it all to
``benchmarks/results/latest.json``. Exits 1 when any benchmark missed its target or failed.

- ``find_partners``: the search at 10k, 100k and 1M organisations (small: 10k);
- ``csv_preview``: the bulk import's preview of 1,000 rows;
- ``list_pages``: a page change of each server-paged list at 5,000 rows;
- ``login_burst``: wrong log-ins against one backend worker while another client goes on;
- ``bulk_requests`` and ``page_load``: in ONE production-mode app started here (one frontend build);
- ``live_latency``, ``open_dashboards``, ``event_loop``: imported by name when present (a missing
  module is skipped with a line saying so).

With ``--scale-out`` (``BENCH_SCALE_OUT=1``) the app runs on PostgreSQL + Redis with two backend
workers and the search on PostgreSQL (``ECONNECT_TEST_DB_URL``, ``ECONNECT_TEST_REDIS_URL``).

    .venv/bin/python -m benchmarks.run_all                      # full sizes
    .venv/bin/python -m benchmarks.run_all --scale small
    .venv/bin/python -m benchmarks.run_all --only page_load,bulk_requests
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/run_all.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.support import RESULTS_DIR, write_json

SCALES = ("tiny", "small", "full")  # tiny: the smoke run of `make test`, seconds per benchmark
LIVE_MODULES = ("live_latency", "open_dashboards", "event_loop")  # benchlive's, each `main(argv) -> int`
APP_MODULES = ("page_load", "bulk_requests")  # share one production-mode app


@dataclass
class Outcome:
    """One benchmark's run: its status, exit code, seconds and the JSON it wrote."""

    name: str
    status: str  # "met", "missed", "failed" or "skipped"
    seconds: float = 0.0
    exit_code: int | None = None
    result_file: str | None = None
    result: dict[str, Any] | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 1),
            "result_file": self.result_file,
            "note": self.note,
            "result": self.result,
        }


# --- the arguments of each benchmark, per scale ----------------------------------------------------


def find_partners_arguments(scale: str, scale_out: bool) -> list[str]:
    sizes = {
        "tiny": ["--sizes", "300", "--queries-per-kind", "2", "--repetitions", "1"],
        "small": ["--sizes", "10000", "--repetitions", "5"],
        "full": [],
    }[scale]
    return [*sizes, *(["--db", "postgresql"] if scale_out else [])]


def login_burst_arguments(scale: str, scale_out: bool) -> list[str]:
    return {"tiny": ["--logins", "12", "--tabs", "3", "--baseline", "3"], "small": ["--logins", "40", "--tabs", "5"]}.get(
        scale, []
    )


def list_pages_arguments(scale: str, scale_out: bool) -> list[str]:
    sizes = {"tiny": ["--rows", "200", "--repetitions", "1"], "small": ["--repetitions", "2"], "full": []}[scale]
    return [*sizes, *(["--db", "postgresql"] if scale_out else [])]


def csv_preview_arguments(scale: str, scale_out: bool) -> list[str]:
    sizes = {"tiny": ["--rows", "50", "--repetitions", "1"], "small": ["--repetitions", "2"], "full": []}[scale]
    return [*sizes, *(["--db", "postgresql"] if scale_out else [])]


def page_load_arguments(scale: str, scale_out: bool) -> list[str]:
    sizes = {"tiny": ["--runs", "1"], "small": ["--scale", "small"], "full": ["--scale", "full"]}[scale]
    return [*sizes, *(["--scale-out"] if scale_out else [])]


def bulk_requests_arguments(scale: str, scale_out: bool) -> list[str]:
    sizes = {"tiny": ["--requests", "10"], "small": ["--scale", "small"], "full": ["--scale", "full"]}[scale]
    return [*sizes, *(["--scale-out"] if scale_out else [])]


def live_arguments(scale: str, scale_out: bool) -> list[str]:
    return ["--scale", "full" if scale == "full" else "small", *(["--scale-out"] if scale_out else [])]


ARGUMENTS: dict[str, Callable[[str, bool], list[str]]] = {
    "find_partners": find_partners_arguments,
    "login_burst": login_burst_arguments,
    "list_pages": list_pages_arguments,
    "csv_preview": csv_preview_arguments,
    "page_load": page_load_arguments,
    "bulk_requests": bulk_requests_arguments,
    **{name: live_arguments for name in LIVE_MODULES},
}
ORDER = ("find_partners", "login_burst", "list_pages", "csv_preview", *APP_MODULES, *LIVE_MODULES)


# --- running them -----------------------------------------------------------------------------------


def _import(name: str) -> Any | None:
    """``benchmarks.<name>``, or None when that module does not exist (yet)."""
    try:
        return importlib.import_module(f"benchmarks.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"benchmarks.{name}":
            return None
        raise


def _finish(outcome: Outcome, output: Path) -> Outcome:
    if output.exists():
        outcome.result_file = str(output)
        outcome.result = json.loads(output.read_text())
    if outcome.status == "failed":
        return outcome
    met = outcome.exit_code == 0 and (outcome.result or {}).get("target_met", True) is not False
    outcome.status = "met" if met else "missed"
    return outcome


def _run_guarded(name: str, output: Path, call: Callable[[], int]) -> Outcome:
    """Run one benchmark; a crash is a failed outcome (with its traceback printed), not the end."""
    print(f"\n=== {name} ===", flush=True)
    output.unlink(missing_ok=True)
    started = time.perf_counter()
    outcome = Outcome(name=name, status="met")
    try:
        outcome.exit_code = int(call() or 0)
    except (Exception, SystemExit) as error:  # noqa: BLE001 (one benchmark's failure must not stop the others)
        traceback.print_exc()
        outcome.status, outcome.note = "failed", f"{type(error).__name__}: {error}"[:300]
    outcome.seconds = time.perf_counter() - started
    return _finish(outcome, output)


def run_module(name: str, arguments: list[str], output: Path) -> Outcome:
    module = _import(name)
    if module is None:
        print(f"\n=== {name} === skipped: benchmarks/{name}.py does not exist", flush=True)
        return Outcome(name=name, status="skipped", note=f"benchmarks/{name}.py does not exist")
    return _run_guarded(name, output, lambda: module.main([*arguments, "--output", str(output)]))


def run_app_modules(names: list[str], scale: str, scale_out: bool, outputs: dict[str, Path]) -> list[Outcome]:
    """page_load and bulk_requests against one production-mode app (one frontend build for both)."""
    from benchmarks import bulk_requests, page_load
    from benchmarks.production_app import mail_catcher, production_app

    modules = {"page_load": page_load, "bulk_requests": bulk_requests}
    outcomes: list[Outcome] = []
    try:
        with mail_catcher() as catcher, production_app(scale_out=scale_out, smtp_url=catcher.url) as app:
            for name in names:
                module = modules[name]
                args = module.parse_arguments([*ARGUMENTS[name](scale, scale_out), "--output", str(outputs[name])])
                outcomes.append(_run_guarded(name, outputs[name], lambda module=module, args=args: module.run(app, catcher, args)))
    except (Exception, SystemExit) as error:  # noqa: BLE001 (the app did not start: both fail, the rest go on)
        traceback.print_exc()
        done = {outcome.name for outcome in outcomes}
        outcomes += [
            Outcome(name=name, status="failed", note=f"the app: {type(error).__name__}: {error}"[:300])
            for name in names
            if name not in done
        ]
    return outcomes


# --- the combined table -------------------------------------------------------------------------------


def figure_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """The figures of one benchmark as rows of the combined table."""
    result = outcome.result or {}
    if outcome.status in {"skipped", "failed"} or not result:
        return [{"benchmark": outcome.name, "name": outcome.note or outcome.status, "met": None}]
    if isinstance(result.get("figures"), list):
        rows = [dict(row) for row in result["figures"]]
    elif outcome.name == "find_partners":
        rows = _find_partners_rows(result)
    elif outcome.name == "login_burst":
        rows = _login_burst_rows(result)
    else:
        rows = [{"name": "target met" if result.get("target_met") else "see its JSON", "met": result.get("target_met")}]
    for row in rows:
        row["benchmark"] = outcome.name
        value, floor = row.get("value"), row.get("floor")
        if isinstance(value, int | float) and isinstance(floor, int | float) and floor:
            row["ratio"] = round(value / floor, 2)
    return rows


def _find_partners_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    largest = result["sizes"][-1]
    target = result.get("target_p95_ms")
    return [
        {
            "name": f"search p95, {kind}, {largest['organisations']:,} orgs",
            "value": figures["p95_ms"],
            "unit": "ms",
            "floor": figures["naive_p50_ms"],
            "floor_name": "naive LIKE scan p50 (the baseline to beat)",
            "target": f"p95 < {target:g} ms" if target else None,
            "met": figures["p95_ms"] <= target if target else None,
        }
        for kind, figures in largest["kinds"].items()
    ]


def _login_burst_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    before, during = result.get("bystander_before_ms") or [0], result.get("bystander_during_ms") or [0]
    return [
        {
            "name": f"bystander slowest round trip during {len(result.get('attacker_answers', []))} wrong log-ins",
            "value": round(max(during), 1),
            "unit": "ms",
            "floor": round(sorted(before)[len(before) // 2], 1),
            "floor_name": "its median round trip before the burst",
            "target": f"< {result.get('target_ms', 500):g} ms",
            "met": result.get("target_met"),
        }
    ]


def _cell(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def combined_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: text columns left-aligned, numbers right-aligned."""
    headers = ["benchmark", "figure", "value", "floor", "ratio", "floor is", "target", ""]
    right = {2, 3, 4}
    cells = [
        [
            row["benchmark"],
            row.get("name", ""),
            _cell(row.get("value"), row.get("unit", "")),
            _cell(row.get("floor"), row.get("unit", "") if row.get("floor") is not None else ""),
            f"{row['ratio']:.1f}x" if isinstance(row.get("ratio"), int | float) else "-",
            row.get("floor_name") or "",
            row.get("target") or "",
            {True: "met", False: "MISSED", None: ""}[row.get("met")],
        ]
        for row in rows
    ]
    widths = [max(len(str(line[index])) for line in [headers, *cells]) for index in range(len(headers))]

    def line(values: list[str]) -> str:
        return "  ".join(
            value.rjust(width) if index in right else value.ljust(width)
            for index, (value, width) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), "  ".join("-" * width for width in widths), *map(line, cells)])


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The same table in Markdown (for BENCHMARKS.md)."""
    lines = ["| benchmark | figure | value | floor | ratio | floor is | target | |", "|---|---|--:|--:|--:|---|---|---|"]
    for row in rows:
        ratio = f"{row['ratio']:.1f}x" if isinstance(row.get("ratio"), int | float) else "-"
        floor_unit = row.get("unit", "") if row.get("floor") is not None else ""
        met = {True: "met", False: "**missed**", None: ""}[row.get("met")]
        lines.append(
            f"| {row['benchmark']} | {row.get('name', '')} | {_cell(row.get('value'), row.get('unit', ''))} | "
            f"{_cell(row.get('floor'), floor_unit)} | {ratio} | {row.get('floor_name') or ''} | {row.get('target') or ''} | {met} |"
        )
    return "\n".join(lines)


def describe_machine() -> dict[str, Any]:
    """CPU model and count, memory, OS, Python: what BENCHMARKS.md quotes."""
    cpu = memory_gib = None
    try:
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
        memory_gib = round(kib / 1024 / 1024, 1)
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


# --- main ----------------------------------------------------------------------------------------------


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default=os.environ.get("BENCH_SCALE", "").strip() or "full",
        help="full (default, or $BENCH_SCALE), small (minutes) or tiny (the smoke run of the tests)",
    )
    parser.add_argument(
        "--scale-out",
        action="store_true",
        default=os.environ.get("BENCH_SCALE_OUT", "").strip() not in {"", "0"},
        help="PostgreSQL + Redis, two backend workers (default: $BENCH_SCALE_OUT=1)",
    )
    parser.add_argument("--only", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where each benchmark's JSON goes")
    parser.add_argument("--output", type=Path, help="the combined JSON (default benchmarks/results/latest.json)")
    parser.add_argument("--markdown", action="store_true", help="print the table of an earlier run's JSON (--output) in Markdown")
    args = parser.parse_args(argv)
    if args.scale not in SCALES:
        parser.error(f"BENCH_SCALE must be one of {', '.join(SCALES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.markdown:
        print(markdown_table(json.loads((args.output or args.results_dir / "latest.json").read_text())["figures"]))
        return 0
    names = [name for name in ORDER if not args.only or name in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(ORDER) if args.only else set()
    if unknown:
        raise SystemExit(f"unknown benchmarks: {', '.join(sorted(unknown))} (known: {', '.join(ORDER)})")
    suffix = "-scale-out" if args.scale_out else ""
    outputs = {name: args.results_dir / f"{name}{suffix}.json" for name in names}
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    app_names = [name for name in names if name in APP_MODULES]
    for name in names:
        if name in APP_MODULES:
            if name == app_names[0]:
                outcomes += run_app_modules(app_names, args.scale, args.scale_out, outputs)
            continue
        outcomes.append(run_module(name, ARGUMENTS[name](args.scale, args.scale_out), outputs[name]))

    rows = [row for outcome in outcomes for row in figure_rows(outcome)]
    all_met = all(outcome.status in {"met", "skipped"} for outcome in outcomes)
    mode = "PostgreSQL + Redis, 2 workers" if args.scale_out else "SQLite, 1 worker"
    print(f"\n=== all benchmarks ({args.scale} scale; {mode}; {time.perf_counter() - started:.0f} s) ===")
    print(combined_table(rows))
    for outcome in outcomes:
        if outcome.status != "met":
            print(f"{outcome.name}: {outcome.status}{': ' + outcome.note if outcome.note else ''}")
    output = write_json(
        args.output or args.results_dir / "latest.json",
        {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": args.scale,
            "scale_out": args.scale_out,
            "machine": describe_machine(),
            "all_targets_met": all_met,
            "figures": rows,
            "benchmarks": {outcome.name: outcome.as_json() for outcome in outcomes},
        },
    )
    print(f"\n{'every target met' if all_met else 'TARGET MISSED (or a benchmark failed)'}; written to {output}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
