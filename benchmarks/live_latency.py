"""Live update latency (issue 10, part A 1): from a client's accept, through the real event handler
of the /activate/<token> page, to the accountant's open dashboard receiving the pushed delta with
the new partnership.

Starts the backend in production mode (``benchmarks/live_server.py``: SQLite and one worker, or
with ``--scale-out`` PostgreSQL + Redis and two workers), with one accountancy firm and one client
per accept, each with a Pending request. The accountant's dashboard tab is opened over a real
websocket (``benchmarks/reflex_client.py``). Then, one accept after the other: the client's tab
opens the request's page (not timed), sends ``ActivateState.accept``, and the time until the
dashboard tab receives ``active_partnerships`` = the new count is measured.

Floor, in the same run on the same server: a bare event round trip (``ActivateState.
set_decline_reason``: no database, no push) from a client's tab. Target: p95 under 150 ms and
within 5x the floor's p95.

    .venv/bin/python -m benchmarks.live_latency                 # 200 accepts, SQLite, one worker
    .venv/bin/python -m benchmarks.live_latency --scale-out     # PostgreSQL + Redis, two workers
    .venv/bin/python -m benchmarks.live_latency --scale small   # a few accepts (smoke)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.live_scene import (
    Row,
    Scene,
    accept_event,
    add_common_options,
    build_scene,
    distribution,
    open_activation,
    open_dashboard,
    print_rows,
)
from benchmarks.live_server import Backend, running_backend
from benchmarks.reflex_client import at_least, handler_name, holds
from benchmarks.support import RESULTS_DIR, machine, percentile, write_json
from econnect_app.pages.activate import ActivateState
from econnect_app.pages.dashboard import DashboardState

SIZES = {"small": {"accepts": 5, "floor_round_trips": 20}, "full": {"accepts": 200, "floor_round_trips": 200}}
TARGET_P95_MS = 150.0
TARGET_FLOOR_RATIO = 5.0


async def measure(backend: Backend, scene: Scene, *, floor_round_trips: int) -> dict[str, list[float]]:
    """The floor's round trips, then each accept's delivery to the dashboard (milliseconds)."""
    dashboard = await open_dashboard(backend.url, scene.firms[0].viewer_tokens[0])
    floor: list[float] = []
    delivery: list[float] = []
    answered: list[float] = []
    try:
        bystander = await open_activation(backend.url, scene.requests[0])
        setter = handler_name(ActivateState, "set_decline_reason")
        for number in range(floor_round_trips):
            reason = f"floor {number}"
            answer = bystander.expect(holds(ActivateState, "decline_reason", reason))
            sent = await bystander.send(setter, {"value": reason})
            floor.append((await bystander.arrival(answer) - sent) * 1000)
        await bystander.close()

        for number, request in enumerate(scene.requests, start=1):
            client = await open_activation(backend.url, request)
            try:
                pushed = dashboard.expect(at_least(DashboardState, "active_partnerships", number))
                outcome = client.expect(lambda state: bool(state.get(ActivateState.get_full_name(), {}).get("outcome_rx_state_")))
                sent = await client.send(accept_event(), {"form": {}})
                delivery.append((await dashboard.arrival(pushed) - sent) * 1000)
                answered.append((await client.arrival(outcome) - sent) * 1000)
            finally:
                await client.close()
    finally:
        await dashboard.close()
    return {"floor": floor, "delivery": delivery, "accept_answered": answered}


def evaluate(figures: dict[str, list[float]]) -> list[Row]:
    floor, delivery = figures["floor"], figures["delivery"]
    rows = []
    for label, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        figure, floor_figure = percentile(delivery, q), percentile(floor, q)
        if label == "p95":
            passed = figure < TARGET_P95_MS and figure <= TARGET_FLOOR_RATIO * floor_figure
            target = f"< {TARGET_P95_MS:.0f} ms, <= {TARGET_FLOOR_RATIO:.0f}x floor"
        else:
            passed, target = True, "-"
        rows.append(Row(f"accept -> dashboard delta {label}", figure, floor_figure, target, passed))
    rows.append(
        Row("accept answered to the client p95", percentile(figures["accept_answered"], 0.95),
            percentile(floor, 0.95), "-", True)
    )  # fmt: skip
    return rows


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser)
    parser.add_argument("--accepts", type=int, default=None, help="accepts to time (200; small: 5)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    sizes = dict(SIZES[args.scale])
    if args.accepts:
        sizes["accepts"] = args.accepts
    scene_holder: dict[str, Scene] = {}

    def prepare(db_url: str) -> None:
        scene_holder["scene"] = build_scene(db_url, firms=1, viewers_per_firm=1, requests_per_firm=sizes["accepts"])

    started = time.perf_counter()
    with running_backend(scale_out=args.scale_out, prepare=prepare) as backend:
        figures = asyncio.run(measure(backend, scene_holder["scene"], floor_round_trips=sizes["floor_round_trips"]))
        backend_description = f"{backend.database}, {backend.workers} worker(s), production mode"
    rows = evaluate(figures)
    print(f"\nLive update latency: {len(figures['delivery'])} accepts; {backend_description}\n")
    print_rows(rows)
    passed = all(row.passed for row in rows)
    result: dict[str, Any] = {
        "benchmark": "live_latency",
        "scale": args.scale,
        "scale_out": args.scale_out,
        "backend": backend_description,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "figures": [row.as_dict() for row in rows],
        "delivery": distribution(figures["delivery"]),
        "floor": distribution(figures["floor"]),
        "accept_answered": distribution(figures["accept_answered"]),
        "delivery_ms_in_order": [round(value, 1) for value in figures["delivery"]],  # the n-th accept's
        "target_met": passed,
        "machine": machine(),
    }
    suffix = "-scale-out" if args.scale_out else ""
    output = write_json(args.output or RESULTS_DIR / f"live_latency{suffix}.json", result)
    print(f"\n{'all targets met' if passed else 'a target was NOT met'}; written to {output}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
