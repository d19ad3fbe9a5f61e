"""Page load: /dashboard's time to interactive in production mode in headless Chromium, cold and
warm, and the JavaScript it ships (issue 10, point 6: under 1.5 s cold on loopback).

It starts the app in production mode (``benchmarks/production_app.py``), adds a Basic-plan
environment with ``ORGANISATIONS`` organisations and its administrator, logs in once and keeps the
session cookie. Then, ``--runs`` times:

- cold: a new browser context (empty cache, the cookie only) opens /dashboard;
- warm: the same page is reloaded (the browser's cache holds the scripts).

Time to interactive is read in the page, from its own navigation start (``performance.now()``): the
first moment the server's state has arrived (the dashboard's organisation count shows the
database's figure, so the page is hydrated and its on_load handlers are done) and no form fieldset
is disabled any more (``components/forms.py`` disables them until the page is hydrated). A
MutationObserver installed before the page's own scripts records that moment.

Floor, measured in the same run and browser: a static file of the same server (``/styles.css``)
opened cold and reloaded warm, its load event from its navigation start.

JavaScript shipped: every ``.js`` resource the dashboard loaded (until the network is idle), its
bytes as the browser decoded them, as transferred (the server sends pre-compressed files), and
gzip -6 of each file compressed here.

    .venv/bin/python -m benchmarks.page_load                 # SQLite, 1 worker, 5 cold + 5 warm
    .venv/bin/python -m benchmarks.page_load --scale small   # 2 + 2
    .venv/bin/python -m benchmarks.page_load --scale-out     # PostgreSQL + Redis, 2 workers
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/page_load.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.production_app import (
    AppServer,
    MailCatcher,
    add_basic_environment,
    describe,
    launch_chromium,
    log_in,
    mail_catcher,
    production_app,
)
from benchmarks.support import RESULTS_DIR, format_table, machine, write_json

RUNS = {"small": 2, "full": 5}
TARGET_COLD_SECONDS = 1.5
ORGANISATIONS = 3
PAGE = "/dashboard"
STATIC_FILE = "/styles.css"
TIMEOUT_MS = 60_000
TIME_TO_INTERACTIVE = """(() => {
  const expected = '%(expected)s';
  const ready = () => {
    const figure = document.getElementById('stat-organisations');
    return figure !== null && figure.textContent.trim() === expected
      && document.querySelector('fieldset[disabled]') === null;
  };
  const observer = new MutationObserver(() => check());
  const check = () => {
    if (window.__interactiveAt === undefined && ready()) {
      window.__interactiveAt = performance.now();
      observer.disconnect();
    }
  };
  observer.observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
})();"""
SCRIPTS = """() => performance.getEntriesByType('resource')
  .filter(entry => new URL(entry.name).pathname.endsWith('.js'))
  .map(entry => ({url: entry.name, transferred: entry.transferSize, decoded: entry.decodedBodySize}))"""
LOAD_EVENT = "() => performance.getEntriesByType('navigation')[0].loadEventEnd"


def _dashboard_seconds(page: Any) -> float:
    page.wait_for_function("() => window.__interactiveAt !== undefined", timeout=TIMEOUT_MS)
    return page.evaluate("window.__interactiveAt") / 1000


def _static_seconds(page: Any) -> float:
    page.wait_for_function("() => performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
    return page.evaluate(LOAD_EVENT) / 1000


def measure(app: AppServer, *, runs: int) -> dict[str, Any]:
    """Cold and warm seconds of the dashboard and of the static file, and the dashboard's scripts."""
    from playwright.sync_api import sync_playwright

    account = add_basic_environment(app.db_url, organisations=ORGANISATIONS)
    seconds: dict[str, list[float]] = {"cold": [], "warm": [], "static cold": [], "static warm": []}
    scripts: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        options: dict[str, Any] = {"base_url": app.base_url, "viewport": {"width": 1280, "height": 900}, "locale": "en-GB"}
        signing_in = browser.new_context(**options)
        log_in(signing_in.new_page(), account)
        cookie_only = signing_in.storage_state()
        signing_in.close()
        for run in range(runs):
            context = browser.new_context(**options, storage_state=cookie_only)
            context.set_default_timeout(TIMEOUT_MS)
            context.add_init_script(TIME_TO_INTERACTIVE % {"expected": str(ORGANISATIONS)})
            page = context.new_page()
            page.goto(PAGE, wait_until="commit")
            seconds["cold"].append(_dashboard_seconds(page))
            page.wait_for_load_state("networkidle")
            if run == 0:
                scripts = page.evaluate(SCRIPTS)
            page.reload(wait_until="commit")
            seconds["warm"].append(_dashboard_seconds(page))
            context.close()

            context = browser.new_context(**options)
            page = context.new_page()
            page.goto(STATIC_FILE, wait_until="load")
            seconds["static cold"].append(_static_seconds(page))
            page.reload(wait_until="load")
            seconds["static warm"].append(_static_seconds(page))
            context.close()
        browser.close()
    return {"seconds": seconds, "scripts": scripts}


def javascript_shipped(scripts: list[dict[str, Any]]) -> dict[str, int]:
    """Bytes of the dashboard's scripts: decoded, transferred, and gzip -6 of each file."""
    unique = {entry["url"]: entry for entry in scripts}
    gzipped = 0
    for url in unique:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (the app on loopback)
            gzipped += len(gzip.compress(response.read(), compresslevel=6))
    return {
        "files": len(unique),
        "decoded_bytes": sum(entry["decoded"] for entry in unique.values()),
        "transferred_bytes": sum(entry["transferred"] for entry in unique.values()),
        "gzip_bytes": gzipped,
    }


def figures(seconds: dict[str, list[float]], target: float) -> list[dict[str, Any]]:
    cold, warm = statistics.median(seconds["cold"]), statistics.median(seconds["warm"])
    static_cold, static_warm = statistics.median(seconds["static cold"]), statistics.median(seconds["static warm"])
    return [
        {
            "name": f"{PAGE} time to interactive, cold (median of {len(seconds['cold'])})",
            "value": round(cold, 3),
            "unit": "s",
            "floor": round(static_cold, 3),
            "floor_name": f"{STATIC_FILE} cold",
            "target": f"< {target:g} s",
            "met": cold < target,
        },
        {
            "name": f"{PAGE} time to interactive, cold (slowest)",
            "value": round(max(seconds["cold"]), 3),
            "unit": "s",
            "floor": round(max(seconds["static cold"]), 3),
            "floor_name": f"{STATIC_FILE} cold",
        },
        {
            "name": f"{PAGE} time to interactive, warm (median of {len(seconds['warm'])})",
            "value": round(warm, 3),
            "unit": "s",
            "floor": round(static_warm, 3),
            "floor_name": f"{STATIC_FILE} warm",
        },
    ]


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(RUNS), default="full", help="full: 5 cold + 5 warm loads; small: 2")
    parser.add_argument("--runs", type=int, help="cold (and warm) loads (overrides --scale)")
    parser.add_argument("--scale-out", action="store_true", help="PostgreSQL + Redis, two backend workers")
    parser.add_argument("--target-seconds", type=float, default=TARGET_COLD_SECONDS, help="median cold limit (1.5)")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/page_load.json)")
    return parser.parse_args(argv)


def run(app: AppServer, catcher: MailCatcher | None, args: argparse.Namespace) -> int:
    """Measure on a running app; print, write the JSON, return the exit status (1: target missed)."""
    runs = args.runs or RUNS[args.scale]
    mode = describe(args.scale_out)
    measured = measure(app, runs=runs)
    shipped = javascript_shipped(measured["scripts"])
    rows = figures(measured["seconds"], args.target_seconds)
    met = bool(rows[0]["met"])
    print(f"\npage load of {PAGE} ({mode}; headless Chromium on loopback)")
    print(
        format_table(
            ["figure", "seconds", "floor s", "ratio"],
            [
                [row["name"], f"{row['value']:.3f}", f"{row['floor']:.3f}", f"{row['value'] / row['floor']:.1f}x"]
                for row in rows
            ],
        )
    )
    print(
        f"JavaScript shipped: {shipped['files']} files, {shipped['decoded_bytes'] / 1024:.0f} KiB, "
        f"{shipped['transferred_bytes'] / 1024:.0f} KiB transferred, {shipped['gzip_bytes'] / 1024:.0f} KiB gzipped"
    )
    all_seconds = {name: [round(value, 3) for value in values] for name, values in measured["seconds"].items()}
    rows.append(
        {"name": "JavaScript shipped (gzip -6)", "value": round(shipped["gzip_bytes"] / 1024), "unit": "KiB",
         "floor_name": f"{shipped['decoded_bytes'] / 1024:.0f} KiB uncompressed, {shipped['files']} files"}
    )  # fmt: skip
    output = write_json(
        args.output or RESULTS_DIR / "page_load.json",
        {
            "benchmark": "page_load",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode,
            "machine": machine(),
            "page": PAGE,
            "runs": runs,
            "seconds": all_seconds,
            "javascript": shipped,
            "scripts": sorted({entry["url"] for entry in measured["scripts"]}),
            "target_cold_seconds": args.target_seconds,
            "target_met": met,
            "figures": rows,
        },
    )
    print(f"target: median cold time to interactive under {args.target_seconds:g} s: {'met' if met else 'NOT met'}")
    print(f"written to {output}")
    return 0 if met else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    with mail_catcher() as catcher:  # production mode refuses to start without an SMTP server
        with production_app(scale_out=args.scale_out, smtp_url=catcher.url) as app:
            return run(app, catcher, args)

if __name__ == "__main__":
    sys.exit(main())
