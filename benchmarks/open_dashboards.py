"""Open dashboards (issue 10, part A 2): N logged-in dashboard tabs connected at once (100, 500,
1,000) while clients accept requests at a steady rate; how fast the accountants' dashboards get the
new partnership, and the backend's memory per open tab.

One backend in production mode (``benchmarks/live_server.py``: SQLite and one worker, or with
``--scale-out`` PostgreSQL + Redis and two workers, the issue's set-up for the target). The tabs
are spread over accountancy firms, ``--viewers-per-firm`` (10) tabs each, and opened step by step
up to each N (``--concurrency`` at a time; each one hydrates and loads its figures). A few accepts
first warm the workers up (not recorded). Then at each N:

1. floor: a bare event round trip (``ActivateState.set_decline_reason``) from a client's tab,
   measured while nothing else happens;
2. ``--accepts`` clients, whose request pages were opened first, accept one after the other every
   ``1/--rate`` seconds (a steady rate, not waiting for each other), each for a request of the next
   firm in turn among the connected ones; for every dashboard tab of that firm the time from sending
   the accept to the tab receiving ``active_partnerships`` = the firm's new count is recorded;
3. the backend's resident memory (all its processes) against before the first tab.

Target: delivery p95 under 200 ms at every N up to 1,000 (the largest N at which it holds is
printed). The tabs and the backend share this machine's cores.

    .venv/bin/python -m benchmarks.open_dashboards --scale-out      # the issue's set-up
    .venv/bin/python -m benchmarks.open_dashboards --sizes 100,200  # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.live_scene import (
    ClientRequest,
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
from benchmarks.reflex_client import Tab, at_least, handler_name, holds
from benchmarks.support import RESULTS_DIR, machine, percentile, write_json
from econnect_app.pages.activate import ActivateState
from econnect_app.pages.dashboard import DashboardState

SIZES = {
    "small": {"sizes": (4, 8), "accepts": 4, "rate": 4.0, "floor_round_trips": 10},
    "full": {"sizes": (100, 500, 1000), "accepts": 40, "rate": 2.0, "floor_round_trips": 50},
}
TARGET_P95_MS = 200.0
TARGET_SESSIONS = 1000
WARM_UP_ACCEPTS = 4


@dataclass
class Step:
    """What one N showed."""

    dashboards: int
    floor_ms: list[float]
    delivery_ms: list[float]
    rss_bytes: int
    connect_seconds: float
    missed: int = 0  # dashboard tabs that never got an accept's push within the deadline


@dataclass
class Run:
    backend: Backend
    scene: Scene
    viewers_per_firm: int
    tabs_by_firm: dict[int, list[Tab]] = field(default_factory=dict)
    accepted_by_firm: dict[int, int] = field(default_factory=dict)
    requests_by_firm: dict[int, list[ClientRequest]] = field(default_factory=dict)
    next_firm: int = 0

    @property
    def open_tabs(self) -> int:
        return sum(len(tabs) for tabs in self.tabs_by_firm.values())


async def _open_up_to(run: Run, dashboards: int, concurrency: int) -> None:
    """Open dashboard tabs until ``dashboards`` are connected (``concurrency`` at a time)."""
    wanted = []
    for index in range(run.open_tabs, dashboards):
        firm, viewer = divmod(index, run.viewers_per_firm)
        wanted.append((firm, run.scene.firms[firm].viewer_tokens[viewer]))
    gate = asyncio.Semaphore(concurrency)

    async def one(firm: int, token: str) -> None:
        async with gate:
            tab = await open_dashboard(run.backend.url, token)
        run.tabs_by_firm.setdefault(firm, []).append(tab)

    await asyncio.gather(*(one(firm, token) for firm, token in wanted))


async def _floor(tab: Tab, round_trips: int) -> list[float]:
    setter = handler_name(ActivateState, "set_decline_reason")
    timings = []
    for number in range(round_trips):
        reason = f"floor {number} {time.monotonic()}"
        answer = tab.expect(holds(ActivateState, "decline_reason", reason))
        sent = await tab.send(setter, {"value": reason})
        timings.append((await tab.arrival(answer) - sent) * 1000)
    return timings


async def _accepts(run: Run, *, accepts: int, rate: float) -> tuple[list[float], int]:
    """``accepts`` accepts at ``rate`` per second; every watching tab's delivery time, and misses."""
    firms = sorted(run.tabs_by_firm)
    plan: list[tuple[int, ClientRequest]] = []
    for _ in range(accepts):
        firm = firms[run.next_firm % len(firms)]
        run.next_firm += 1
        plan.append((firm, run.requests_by_firm[firm].pop()))
    clients = await asyncio.gather(*(open_activation(run.backend.url, request) for _, request in plan))
    deliveries: list[float] = []
    missed = 0

    async def accept(firm: int, client: Tab) -> None:
        nonlocal missed
        run.accepted_by_firm[firm] = count = run.accepted_by_firm.get(firm, 0) + 1
        watchers = run.tabs_by_firm[firm]
        pushed = [tab.expect(at_least(DashboardState, "active_partnerships", count)) for tab in watchers]
        sent = await client.send(accept_event(), {"form": {}})
        for tab, future in zip(watchers, pushed, strict=True):
            try:
                deliveries.append((await tab.arrival(future, timeout=30) - sent) * 1000)
            except Exception:  # noqa: BLE001 - counted and reported
                missed += 1

    tasks = []
    started = time.monotonic()
    for index, (firm, _request) in enumerate(plan):
        await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
        tasks.append(asyncio.create_task(accept(firm, clients[index])))
    await asyncio.gather(*tasks)
    await asyncio.gather(*(client.close() for client in clients))
    return deliveries, missed


async def measure(
    backend: Backend, scene: Scene, *, sizes: Sequence[int], viewers_per_firm: int, accepts: int, rate: float,
    floor_round_trips: int, concurrency: int,
) -> tuple[int, list[Step]]:  # fmt: skip
    """Baseline memory, then one Step per N."""
    run = Run(backend=backend, scene=scene, viewers_per_firm=viewers_per_firm)
    for request in scene.requests:
        run.requests_by_firm.setdefault(request.firm_index, []).append(request)
    # The floor's tab: a request of the last firm, which has no dashboards open before the largest N.
    bystander = await open_activation(backend.url, run.requests_by_firm[len(scene.firms) - 1].pop(0))
    await _floor(bystander, 5)  # warm-up
    baseline_rss = backend.rss_bytes()
    steps = []
    try:
        # Warm-up, not recorded: the first accepts and pushes of a fresh worker (pools, caches).
        started = time.monotonic()
        await _open_up_to(run, sizes[0], concurrency)
        first_connect_seconds = time.monotonic() - started
        await _accepts(run, accepts=WARM_UP_ACCEPTS, rate=rate)
        for dashboards in sizes:
            started = time.monotonic()
            await _open_up_to(run, dashboards, concurrency)
            connect_seconds = time.monotonic() - started if steps else first_connect_seconds
            await asyncio.sleep(1)  # let the backend settle after the connection burst
            floor = await _floor(bystander, floor_round_trips)
            delivery, missed = await _accepts(run, accepts=accepts, rate=rate)
            steps.append(Step(dashboards, floor, delivery, backend.rss_bytes(), connect_seconds, missed))
            print(
                f"  {dashboards} dashboards: connected in {connect_seconds:.1f} s; delivery p95 "
                f"{percentile(delivery, 0.95):.1f} ms over {len(delivery)} deliveries, {missed} missed",
                flush=True,
            )
    finally:
        await bystander.close()
        await asyncio.gather(*(tab.close() for tabs in run.tabs_by_firm.values() for tab in tabs))
    return baseline_rss, steps


def evaluate(baseline_rss: int, steps: Sequence[Step]) -> tuple[list[Row], int]:
    rows = []
    largest = 0
    for step in steps:
        p95 = percentile(step.delivery_ms, 0.95) if step.delivery_ms else math.inf
        ok = p95 < TARGET_P95_MS and step.missed == 0
        rows.append(
            Row(f"{step.dashboards} dashboards: delivery p95", p95, percentile(step.floor_ms, 0.95),
                f"< {TARGET_P95_MS:.0f} ms", ok)
        )  # fmt: skip
        per_session = (step.rss_bytes - baseline_rss) / step.dashboards / 1024
        rows.append(Row(f"{step.dashboards} dashboards: memory per tab", per_session, None, "-", True, unit="KiB"))
    for step in steps:  # the largest N up to which every step held
        p95 = percentile(step.delivery_ms, 0.95) if step.delivery_ms else math.inf
        if p95 >= TARGET_P95_MS or step.missed:
            break
        largest = step.dashboards
    target = min(TARGET_SESSIONS, max(step.dashboards for step in steps))
    rows.append(Row("largest N with delivery p95 < 200 ms", largest, None, f">= {target}", largest >= target, unit=""))
    return rows, largest


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(parser)
    parser.add_argument("--sizes", default=None, help="comma-separated N (100,500,1000; small: 4,8)")
    parser.add_argument("--viewers-per-firm", type=int, default=10, help="dashboard tabs per firm (10)")
    parser.add_argument("--accepts", type=int, default=None, help="accepts per N (40; small: 4)")
    parser.add_argument("--rate", type=float, default=None, help="accepts per second (2)")
    parser.add_argument("--concurrency", type=int, default=20, help="tabs opening at once (20)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    preset = SIZES[args.scale]
    sizes = tuple(int(size) for size in args.sizes.split(",")) if args.sizes else preset["sizes"]
    accepts = args.accepts or preset["accepts"]
    rate = args.rate or preset["rate"]
    viewers = max(1, min(args.viewers_per_firm, min(sizes)))
    firms = math.ceil(max(sizes) / viewers) + 1  # the last firm: the floor's client, no dashboards
    smallest_firms = math.ceil(min(sizes) / viewers)
    requests_per_firm = math.ceil((accepts * len(sizes) + WARM_UP_ACCEPTS) / smallest_firms) + 1
    scene_holder: dict[str, Scene] = {}

    def prepare(db_url: str) -> None:
        scene_holder["scene"] = build_scene(
            db_url, firms=firms, viewers_per_firm=viewers, requests_per_firm=requests_per_firm
        )

    started = time.perf_counter()
    print(f"Open dashboards: N = {', '.join(map(str, sizes))}; {viewers} per firm; {accepts} accepts at {rate}/s")
    with running_backend(scale_out=args.scale_out, prepare=prepare) as backend:
        backend_description = f"{backend.database}, {backend.workers} worker(s), production mode"
        baseline_rss, steps = asyncio.run(
            measure(
                backend, scene_holder["scene"], sizes=sizes, viewers_per_firm=viewers, accepts=accepts, rate=rate,
                floor_round_trips=preset["floor_round_trips"], concurrency=args.concurrency,
            )
        )  # fmt: skip
    rows, largest = evaluate(baseline_rss, steps)
    print(f"\nOpen dashboards; {backend_description}\n")
    print_rows(rows)
    passed = all(row.passed for row in rows)
    result: dict[str, Any] = {
        "benchmark": "open_dashboards",
        "scale": args.scale,
        "scale_out": args.scale_out,
        "backend": backend_description,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "viewers_per_firm": viewers,
        "accepts_per_step": accepts,
        "accepts_per_second": rate,
        "baseline_rss_bytes": baseline_rss,
        "steps": [
            {
                "dashboards": step.dashboards,
                "connect_seconds": round(step.connect_seconds, 1),
                "delivery": distribution(step.delivery_ms),
                "missed": step.missed,
                "floor": distribution(step.floor_ms),
                "rss_bytes": step.rss_bytes,
                "memory_per_tab_kib": round((step.rss_bytes - baseline_rss) / step.dashboards / 1024, 1),
            }
            for step in steps
        ],
        "largest_n_under_target": largest,
        "figures": [row.as_dict() for row in rows],
        "target_met": passed,
        "machine": machine(),
    }
    suffix = "-scale-out" if args.scale_out else ""
    output = write_json(args.output or RESULTS_DIR / f"open_dashboards{suffix}.json", result)
    print(f"\n{'all targets met' if passed else 'a target was NOT met'}; written to {output}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
