"""Bulk authorisation requests: one CSV upload in the browser until every request is saved and every
email accepted by a real SMTP server (issue 10, point 5: under 10 s for 1,000, nothing lost,
progress visible in the browser while it runs).

It starts the app in production mode (``benchmarks/production_app.py``: one backend worker on
SQLite, or with ``--scale-out`` two on PostgreSQL + Redis) with its mail going to an aiosmtpd
server in this process (``tests/e2e/mail_catcher.py``), adds a Basic-plan environment and its
administrator to the database, logs in with headless Chromium, and uploads a CSV file of
``--requests`` rows on /authorisations/new. When the page asks to confirm after the upload (a
button whose name contains "Send"), it clicks it. The clock starts when the file is handed to the
page and stops when the database holds every request and the SMTP server has accepted every
email; the page's progress texts seen meanwhile are recorded.

Floors, measured in the same run: the same requests created by the service function
(``import_requests_csv``) directly in this process on a new database of the same kind (no browser,
no websocket, no outbox delivery), and a bare SMTP send of as many messages (a copy of one the app
sent) over one connection to another aiosmtpd server of this process.

    .venv/bin/python -m benchmarks.bulk_requests                 # 1,000 requests, SQLite, 1 worker
    .venv/bin/python -m benchmarks.bulk_requests --scale small   # 100
    .venv/bin/python -m benchmarks.bulk_requests --scale-out     # PostgreSQL + Redis, 2 workers
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import secrets
import signal
import smtplib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/bulk_requests.py
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
from benchmarks.support import (
    PROJECT_ROOT,
    RESULTS_DIR,
    format_table,
    machine,
    migrate_to_head,
    temporary_database,
    write_json,
)

SIZES = {"small": 100, "full": 1000}
TARGET_SECONDS = 10.0
PACKAGES = ("Twinfield", "Moneybird", "Exact Online")
CSV_HEADER = "Client name,Email,Software package,Organisation"
RATE_LIMIT_SCALE = "100"  # as the end-to-end harness runs the app (one 1,000-row file fits the real limits too)
# A button the page may show after the upload to confirm the import ("Send 1,000 requests"), never
# the single request form's "Send request".
CONFIRM_BUTTON = re.compile(r"Send(?! request$)")
PROGRESS_OBSERVER = """() => {
  window.__benchProgress = [];
  const read = () => {
    const node = document.querySelector('#import-progress');
    const text = node ? node.textContent.trim() : '';
    const seen = window.__benchProgress;
    if (text && (seen.length === 0 || seen[seen.length - 1].text !== text)) {
      seen.push({text, at: performance.now()});
    }
  };
  new MutationObserver(read).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


@dataclass
class Client:
    """One CSV row."""

    name: str
    email: str
    package: str
    organisation: str


@dataclass
class BulkRun:
    """What the browser run measured (seconds from handing the file to the page)."""

    requests: int
    uploads: int
    saved_seconds: float | None = None
    emailed_seconds: float | None = None
    page_done_seconds: float | None = None
    confirm_clicked: bool = False
    saved: int = 0
    distinct_saved: int = 0
    emails: int = 0
    distinct_emailed: int = 0
    emailed_when_saved: int | None = None  # emails accepted by the time every request was saved
    emails_with_link: int = 0  # of the clients' emails, read after the clock stopped: those holding an activation link
    progress: list[dict[str, Any]] = field(default_factory=list)

    @property
    def nothing_lost(self) -> bool:
        """Every request saved once and emailed once, each email with its activation link."""
        counts = (self.saved, self.distinct_saved, self.emails, self.distinct_emailed, self.emails_with_link)
        return all(count == self.requests for count in counts)


def make_clients(count: int) -> list[Client]:
    """``count`` distinct clients (fresh addresses every run)."""
    run = uuid.uuid4().hex[:6]
    return [
        Client(
            name=f"Klant {number:04d}",
            email=f"client{number:04d}-{run}@example.com",
            package=PACKAGES[number % len(PACKAGES)],
            organisation=f"Klant {number:04d} BV",
        )
        for number in range(1, count + 1)
    ]


def csv_text(clients: Sequence[Client]) -> str:
    rows = [f"{c.name},{c.email},{c.package},{c.organisation}" for c in clients]
    return "\n".join([CSV_HEADER, *rows]) + "\n"


def rows_per_file() -> int:
    """How many rows one upload may hold (the import's own limit)."""
    from econnect_app.services.authorisations import import_csv

    return int(getattr(import_csv, "MAX_IMPORT_ROWS", 10**9))


def chunks(clients: list[Client]) -> list[list[Client]]:
    size = rows_per_file()
    return [clients[start : start + size] for start in range(0, len(clients), size)]


# --- the browser run -----------------------------------------------------------------------------


def _counts(engine: Any, environment_id: int, emails: set[str], catcher: MailCatcher) -> tuple[int, int, int, int]:
    """(requests saved, distinct clients saved, emails to the clients, distinct clients emailed)."""
    from sqlalchemy import func, select

    from econnect_app.models import AuthorisationRequest

    with engine.connect() as connection:
        saved, distinct = connection.execute(
            select(func.count(), func.count(func.distinct(AuthorisationRequest.client_email))).where(
                AuthorisationRequest.environment_id == environment_id
            )
        ).one()
    mailed = [recipient for message in catcher.messages for recipient in message.envelope_recipients if recipient in emails]
    return int(saved), int(distinct), len(mailed), len(set(mailed))


def _upload(page: Any, clients: Sequence[Client], number: int, timeout_ms: float) -> bool:
    """Hand one CSV file to the page; click the confirming button if one appears. True if clicked."""
    from playwright.sync_api import expect

    page.locator("input[type=file]").first.set_input_files(
        files=[{"name": f"clients-{number}.csv", "mimeType": "text/csv", "buffer": csv_text(clients).encode()}]
    )
    confirm = page.get_by_role("button", name=CONFIRM_BUTTON)
    running = page.get_by_role("progressbar", name="Import progress")
    done = page.get_by_role("status").filter(has_text=f"{len(clients)} requests sent")
    # A later file: the previous file's result stays on the page until this import starts.
    started = confirm.or_(running) if number > 1 else confirm.or_(running).or_(done)
    expect(started.first).to_be_visible(timeout=timeout_ms)
    if confirm.count() and confirm.first.is_visible():
        confirm.first.click()
        return True
    return False


def browser_run(app: AppServer, catcher: MailCatcher, clients: list[Client], *, timeout: float) -> BulkRun:
    """Upload the clients (one file, or several when the import's row limit is lower) and measure."""
    from playwright.sync_api import expect, sync_playwright

    from econnect_app.db import make_engine

    account = add_basic_environment(app.db_url)
    emails = {client.email for client in clients}
    files = chunks(clients)
    run = BulkRun(requests=len(clients), uploads=len(files))
    engine = make_engine(app.db_url)
    timeout_ms = timeout * 1000
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context(base_url=app.base_url, viewport={"width": 1280, "height": 900}, locale="en-GB")
            context.set_default_timeout(timeout_ms)
            page = context.new_page()
            log_in(page, account)
            page.goto("/authorisations/new")
            expect(page.get_by_label("Client name", exact=True)).to_be_enabled(timeout=timeout_ms)
            page.evaluate(PROGRESS_OBSERVER)
            page_started = page.evaluate("performance.now()")
            started = time.perf_counter()
            deadline = started + timeout
            sent_before = 0
            for number, group in enumerate(files, start=1):
                run.confirm_clicked |= _upload(page, group, number, timeout_ms)
                sent_before += len(group)
                done = page.get_by_role("status").filter(has_text=f"{len(group)} requests sent")
                running = page.get_by_role("progressbar", name="Import progress")
                while True:  # poll the database, the SMTP server and the page until all is done
                    now = time.perf_counter() - started
                    run.saved, run.distinct_saved, run.emails, run.distinct_emailed = _counts(
                        engine, account.environment_id, emails, catcher
                    )
                    # the result on the page (or, should its wording change, the progress bar gone)
                    page_done = run.saved >= sent_before and (done.count() > 0 or running.count() == 0)
                    if run.saved >= len(clients) and run.saved_seconds is None:
                        run.saved_seconds = now
                        run.emailed_when_saved = run.distinct_emailed
                    if run.distinct_emailed >= len(clients) and run.emailed_seconds is None:
                        run.emailed_seconds = now
                    if page_done and number == len(files) and run.page_done_seconds is None:
                        run.page_done_seconds = now
                    if number < len(files) and page_done:
                        break
                    if number == len(files) and None not in (run.saved_seconds, run.emailed_seconds, run.page_done_seconds):
                        break
                    if time.perf_counter() > deadline:
                        break
                    page.wait_for_timeout(50)
                if time.perf_counter() > deadline:
                    break
            run.progress = [
                {"text": entry["text"], "seconds": round((entry["at"] - page_started) / 1000, 3)}
                for entry in page.evaluate("window.__benchProgress")
            ]
            context.close()
            browser.close()
    finally:
        engine.dispose()
    run.emails_with_link = _emails_with_activation_link(catcher, emails)
    return run


def _emails_with_activation_link(catcher: MailCatcher, emails: set[str]) -> int:
    """Of the messages to the clients, how many hold an activation link (each message parsed here,
    after the clock stopped: the SMTP server only stores what it accepts)."""
    from econnect_app import routes

    prefix = routes.ACTIVATE.split("[", 1)[0]  # "/activate/"
    to_clients = [message for message in catcher.messages if emails.intersection(message.envelope_recipients)]
    return sum(any(prefix in link for link in message.links) for message in to_clients)


# --- the floors ----------------------------------------------------------------------------------


@contextmanager
def _app_settings_in_this_process() -> Iterator[None]:
    """The app's settings as the benchmark's app runs with (the rate limits scaled, a secret key
    for the encrypted outbox), for this process only while the floor runs: the environment and the
    settings cache are restored afterwards (the smoke test runs this inside the test suite)."""
    from econnect_app.settings import get_settings

    names = ("ECONNECT_RATE_LIMIT_SCALE", "ECONNECT_SECRET_KEY")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["ECONNECT_RATE_LIMIT_SCALE"] = RATE_LIMIT_SCALE
    os.environ.setdefault("ECONNECT_SECRET_KEY", secrets.token_urlsafe(48))  # bodies are encrypted at rest
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def service_floor(clients: list[Client], *, scale_out: bool) -> tuple[float, list[tuple[str, bytes]]]:
    """Seconds to create the same requests with ``import_requests_csv`` in this process, one call
    per file as the page makes, on a new database of the app's kind; and the emails they queued,
    built as the app's outbox worker builds them (recipient, bytes)."""
    with _app_settings_in_this_process():
        return _service_floor(clients, scale_out=scale_out)


def _service_floor(clients: list[Client], *, scale_out: bool) -> tuple[float, list[tuple[str, bytes]]]:
    from sqlmodel import Session, select

    from econnect_app.db import make_engine
    from econnect_app.mail.delivery import build_email
    from econnect_app.models import OutboxMessage, User
    from econnect_app.services.authorisations import import_requests_csv
    from econnect_app.settings import get_settings

    with temporary_database("postgresql" if scale_out else "sqlite") as url:
        migrate_to_head(url)
        account = add_basic_environment(url)
        engine = make_engine(url)
        try:
            seconds = 0.0
            saved = 0
            for group in chunks(clients):
                with Session(engine) as session:
                    actor = session.get(User, account.user_id)
                    started = time.perf_counter()
                    result = import_requests_csv(session, actor=actor, csv_text=csv_text(group))
                    seconds += time.perf_counter() - started
                    saved += len(result.saved)
            with Session(engine) as session:
                mail_from = get_settings().mail_from
                emails = [
                    (row.to_address, build_email(row, mail_from=mail_from).as_bytes())
                    for row in session.exec(select(OutboxMessage).order_by(OutboxMessage.id))
                ]
        finally:
            engine.dispose()
    if saved != len(clients) or len(emails) != len(clients):
        raise RuntimeError(f"the service floor saved {saved} and queued {len(emails)} of {len(clients)} requests")
    return seconds, emails


def smtp_floor(emails: Sequence[tuple[str, bytes]]) -> float:
    """Seconds to send the emails over one SMTP connection to a fresh aiosmtpd server of this
    process (which keeps each one unparsed, as the app's does)."""
    with mail_catcher() as catcher:
        started = time.perf_counter()
        with smtplib.SMTP(catcher.host, catcher.port, timeout=30) as client:
            for recipient, message in emails:
                client.sendmail("no-reply@econnect.local", [recipient], message)
        seconds = time.perf_counter() - started
        if len(catcher.messages) != len(emails):
            raise RuntimeError(f"the SMTP floor delivered {len(catcher.messages)} of {len(emails)} messages")
        return seconds


# --- profiling -----------------------------------------------------------------------------------


def start_profiler(app: AppServer, output: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy recording every backend process (collapsed stacks; with several backends, one file
    each, ``output`` then holding them all once stopped), or nothing when py-spy is missing."""
    py_spy = PROJECT_ROOT / ".venv" / "bin" / "py-spy"
    if not py_spy.exists():
        print("py-spy is not installed (pip install py-spy): no profile")
        return []
    profilers = []
    for name, backend in app.backends.items():
        assert backend.process is not None
        target = output if len(app.backends) == 1 else output.with_name(f"{output.name}.{name}")
        profilers.append(
            subprocess.Popen(
                [str(py_spy), "record", "--pid", str(backend.process.pid), "--subprocesses", "--format", "raw",
                 "--rate", "200", "--nonblocking", "--output", str(target)],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )  # fmt: skip
        )
    return profilers


def stop_profiler(profilers: list[subprocess.Popen[bytes]], output: Path, app: AppServer) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)
    if profilers and len(app.backends) > 1:  # one file with every backend's stacks
        parts = [output.with_name(f"{output.name}.{name}") for name in app.backends]
        output.write_text("".join(part.read_text() for part in parts if part.exists()))


def summarise_profile(path: Path, *, top: int = 15) -> dict[str, Any]:
    """From py-spy's collapsed stacks, idle waits left out: the share of the busy samples by package
    (where the innermost frame runs), in each function itself, and in each of the app's functions
    with what it calls (inclusive)."""
    idle = ("select (", "poll (", "epoll", "wait (", "_wait_for_tstate_lock", "sleep", "acquire (", "recv (", "accept (")
    packages: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    app: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [frame for frame in stack.split(";") if re.search(r":\d+\)$", frame.strip())]
        if not frames or any(marker in frames[-1] for marker in idle):
            continue
        count = int(count_text)
        busy += count
        packages[_package(frames[-1])] += count
        own[_frame_name(frames[-1])] += count
        for name in dict.fromkeys(_frame_name(frame) for frame in frames if "econnect_app" in frame):
            app[name] += count

    def shares(counter: collections.Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * count / busy, 1)] for name, count in counter.most_common(top)] if busy else []

    return {
        "busy_samples": busy,
        "by_package_percent": shares(packages),
        "self_percent": shares(own),
        "app_inclusive_percent": shares(app),
    }


def _frame_name(frame: str) -> str:
    """``function (path/to/module.py:12)`` -> ``function (module.py)``, shortened to its package."""
    match = re.match(r"(.*) \((.*?):\d+\)$", frame.strip())
    if not match:
        return frame.strip()
    function, path = match.groups()
    parts = Path(path).parts
    for anchor in ("econnect_app", "site-packages"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + (anchor == "site-packages") :]
            break
    return f"{function} ({'/'.join(parts[-3:])})"


STDLIB_PACKAGES = {"asyncio", "collections", "concurrent", "ctypes", "email", "encodings", "http", "importlib",
                   "json", "logging", "multiprocessing", "re", "sqlite3", "urllib", "xml", "zoneinfo"}  # fmt: skip


def _package(frame: str) -> str:
    """The package a frame's file belongs to: "econnect_app", an installed one ("sqlalchemy"), or
    "python" (the standard library; py-spy shortens paths to the importable module's)."""
    match = re.search(r"\((.*?):\d+\)$", frame.strip())
    parts = Path(match.group(1)).parts if match else ()
    if "site-packages" in parts and parts.index("site-packages") + 1 < len(parts):
        parts = parts[parts.index("site-packages") + 1 :]
    if len(parts) < 2 or parts[0] in STDLIB_PACKAGES or parts[0].startswith("<") or parts[0] == "/":
        return "python"
    return parts[0]


# --- report --------------------------------------------------------------------------------------


def figures(run: BulkRun, floors: dict[str, float], target: float) -> list[dict[str, Any]]:
    n = run.requests
    both = floors["service"] + floors["smtp"]
    return [
        {
            "name": f"{n:,} requests: upload to all saved",
            "value": run.saved_seconds,
            "unit": "s",
            "floor": floors["service"],
            "floor_name": "import_requests_csv in-process",
        },
        {
            "name": f"{n:,} requests: upload to last email accepted",
            "value": run.emailed_seconds,
            "unit": "s",
            "floor": round(both, 3),
            "floor_name": "in-process import + bare SMTP send",
            "target": f"< {target:g} s, nothing lost, progress shown",
            "met": target_met(run, target),
        },
        {
            "name": f"{n:,} requests: upload to result on the page",
            "value": run.page_done_seconds,
            "unit": "s",
            "floor": floors["service"],
            "floor_name": "import_requests_csv in-process",
        },
        {
            "name": f"bare SMTP send of {n:,} messages",
            "value": floors["smtp"],
            "unit": "s",
            "floor_name": "(floor)",
        },
    ]


def target_met(run: BulkRun, target: float) -> bool:
    progress_seen = any(re.search(r"Imported \d+ of \d+", entry["text"]) for entry in run.progress)
    return run.nothing_lost and progress_seen and run.emailed_seconds is not None and run.emailed_seconds < target


def print_report(run: BulkRun, rows: list[dict[str, Any]], mode: str) -> None:
    print(f"\nbulk authorisation requests ({mode}; {run.uploads} upload(s), confirm button clicked: {run.confirm_clicked})")
    table = [
        [row["name"], _seconds(row["value"]), _seconds(row.get("floor")), _ratio(row["value"], row.get("floor"))]
        for row in rows
    ]
    print(format_table(["figure", "seconds", "floor s", "ratio"], table))
    print(
        f"saved {run.saved} ({run.distinct_saved} distinct clients), emails accepted {run.emails} "
        f"({run.distinct_emailed} distinct clients, {run.emails_with_link} with their activation link) "
        f"of {run.requests}: "
        f"{'nothing lost' if run.nothing_lost else 'SOMETHING LOST'}; "
        f"{run.emailed_when_saved} emails accepted when the last request was saved"
    )
    texts = [entry["text"] for entry in run.progress]
    shown = texts if len(texts) <= 6 else [*texts[:3], "…", *texts[-2:]]
    print(f"progress texts seen in the browser ({len(texts)}): {' | '.join(shown) or 'none'}")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ratio(value: float | None, floor: float | None) -> str:
    return "-" if value is None or not floor else f"{value / floor:.1f}x"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=sorted(SIZES), default="full", help="full: 1,000 requests; small: 100")
    parser.add_argument("--requests", type=int, help="number of CSV rows (overrides --scale)")
    parser.add_argument("--scale-out", action="store_true", help="PostgreSQL + Redis, two backend workers")
    parser.add_argument("--target-seconds", type=float, default=TARGET_SECONDS)
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds (300)")
    parser.add_argument("--profile", type=Path, help="record the backend with py-spy into this file (raw stacks)")
    parser.add_argument("--output", type=Path, help="JSON file (default benchmarks/results/bulk_requests.json)")
    return parser.parse_args(argv)


def run(app: AppServer, catcher: MailCatcher, args: argparse.Namespace) -> int:
    """Measure on a running app whose mail goes to ``catcher``; print, write the JSON, return the
    exit status (1: target missed)."""
    count = args.requests or SIZES[args.scale]
    clients = make_clients(count)
    mode = describe(args.scale_out)
    profilers = start_profiler(app, args.profile) if args.profile else []
    try:
        measured = browser_run(app, catcher, clients, timeout=args.timeout)
    finally:
        stop_profiler(profilers, args.profile, app)
    profile = summarise_profile(args.profile) if profilers and args.profile.exists() else None
    service_seconds, emails = service_floor(clients, scale_out=args.scale_out)
    floors = {"service": round(service_seconds, 3), "smtp": round(smtp_floor(emails), 3)}
    rows = figures(measured, floors, args.target_seconds)
    print_report(measured, rows, mode)
    if profile:
        print(f"\nprofile of the backend while it ran ({profile['busy_samples']} busy samples at 200/s, py-spy):")
        for title, key in (("by package", "by_package_percent"), ("app functions, inclusive", "app_inclusive_percent"),
                           ("functions, own time", "self_percent")):  # fmt: skip
            print(f"  {title}: " + "; ".join(f"{name} {share}%" for name, share in profile[key][:8]))
    met = target_met(measured, args.target_seconds)
    output = write_json(
        args.output or RESULTS_DIR / "bulk_requests.json",
        {
            "benchmark": "bulk_requests",
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode,
            "machine": machine(),
            "requests": count,
            "uploads": measured.uploads,
            "rows_per_file": rows_per_file(),
            "confirm_clicked": measured.confirm_clicked,
            "saved": measured.saved,
            "emails_accepted": measured.emails,
            "emails_with_activation_link": measured.emails_with_link,
            "emailed_when_saved": measured.emailed_when_saved,
            "nothing_lost": measured.nothing_lost,
            "progress": measured.progress,
            "floors_seconds": floors,
            "target_seconds": args.target_seconds,
            "target_met": met,
            "figures": rows,
            "profile": profile,
        },
    )
    print(
        f"target: {count:,} requests saved and emailed in under {args.target_seconds:g} s, nothing lost, "
        f"progress shown: {'met' if met else 'NOT met'}\nwritten to {output}"
    )
    return 0 if met else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    with mail_catcher() as catcher, production_app(scale_out=args.scale_out, smtp_url=catcher.url) as app:
        return run(app, catcher, args)

if __name__ == "__main__":
    sys.exit(main())
