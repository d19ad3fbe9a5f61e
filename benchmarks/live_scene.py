"""The people and requests of the live benchmarks, written into a fresh database before the backend
starts, and what the three benchmarks share: the page states they talk to, logged-in tabs, options,
the report.

Rows are written directly (as tests/services' factories do): accountancy firms (Basic plan) whose
Advanced users watch the dashboard, and clients (each an environment with an Administrator and the
organisation a request is about), each with one Pending authorisation request and the raw token of
its emailed link. Logins are real server-side sessions (``services.sessions.add_session``); a tab
carries the raw session token as the browser's ``econnect_session`` cookie.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from benchmarks.reflex_client import Tab, holds, var_key
from benchmarks.support import format_table, percentile
from econnect_app import routes, security
from econnect_app.db import make_engine
from econnect_app.models import (
    AuthorisationLink,
    AuthorisationRequest,
    AuthorisationStatus,
    Environment,
    Organisation,
    Plan,
    Role,
    SoftwarePackage,
    User,
    utcnow,
)
from econnect_app.pages.activate import ActivateState
from econnect_app.pages.dashboard import DashboardState
from econnect_app.services import sessions
from econnect_app.state.auth import AuthState

SESSION_COOKIE_VAR = var_key(AuthState, "session_cookie")
PASSWORD = "a long passphrase for the benchmark"


@dataclass
class Firm:
    """An accountancy firm: its environment and the session tokens of its dashboard users."""

    environment_id: int
    viewer_tokens: list[str] = field(default_factory=list)
    user_emails: list[str] = field(default_factory=list)


@dataclass
class ClientRequest:
    """A client's Pending request: the firm that sent it, the link token, the client's login."""

    firm_index: int
    link_token: str
    client_session: str


@dataclass
class Scene:
    firms: list[Firm]
    requests: list[ClientRequest]


def build_scene(
    db_url: str, *, firms: int, viewers_per_firm: int, requests_per_firm: int, password_hash: str | None = None
) -> Scene:
    """Write the rows; ``password_hash`` is given to every user (for log-ins), else a dummy one."""
    engine = make_engine(db_url, pooled=False)
    try:
        with Session(engine) as db:
            package_id = db.execute(select(SoftwarePackage.id).order_by(SoftwarePackage.sort_order)).scalars().first()
            assert package_id is not None, "the migrations seed the software packages"
            now = utcnow()
            scene = Scene(firms=[], requests=[])
            for firm_number in range(firms):
                environment = Environment(name=f"Benchmark Accountants {firm_number}", plan=Plan.BASIC.value)
                db.add(environment)
                db.flush()
                firm = Firm(environment_id=environment.id)  # type: ignore[arg-type]
                users = []
                for viewer in range(max(viewers_per_firm, 1)):
                    email = f"accountant{firm_number}-{viewer}@bench.example"
                    user = User(
                        environment_id=environment.id,  # type: ignore[arg-type]
                        name=f"Accountant {firm_number}-{viewer}",
                        email=email,
                        role=Role.ADVANCED_USER.value,
                        password_hash=password_hash or "not-a-real-hash",
                        email_confirmed_at=now,
                    )
                    db.add(user)
                    users.append(user)
                    firm.user_emails.append(email)
                db.flush()
                firm.viewer_tokens = [sessions.add_session(db, user=user) for user in users[:viewers_per_firm]]
                for number in range(requests_per_firm):
                    scene.requests.append(
                        _client_request(db, firm_number, environment, users[0], package_id, number, now)
                    )
                scene.firms.append(firm)
                db.commit()
            return scene
    finally:
        engine.dispose()


def _client_request(
    db: Session, firm_number: int, firm: Environment, requester: User, package_id: int, number: int, now: Any
) -> ClientRequest:
    label = f"{firm_number}-{number}"
    environment = Environment(name=f"Benchmark Client {label}")
    db.add(environment)
    db.flush()
    client = User(
        environment_id=environment.id,  # type: ignore[arg-type]
        name=f"Client {label}",
        email=f"client{label}@bench.example",
        role=Role.ADMINISTRATOR.value,
        password_hash="not-a-real-hash",
        email_confirmed_at=now,
    )
    organisation_name = f"Client {label} B.V."
    db.add(client)
    db.add(
        Organisation(
            environment_id=environment.id,  # type: ignore[arg-type]
            name=organisation_name,
            kvk_number=f"{firm_number * 100_000 + number + 10_000_000:08d}"[-8:],
            identifier=security.new_public_identifier(),
        )
    )
    request = AuthorisationRequest(
        environment_id=firm.id,  # type: ignore[arg-type]
        requested_by_id=requester.id,  # type: ignore[arg-type]
        client_name=f"Client {label}",
        client_email=client.email,
        organisation_name=organisation_name,
        software_package_id=package_id,
        status=AuthorisationStatus.PENDING.value,
        expires_at=now + timedelta(days=14),
    )
    db.add(request)
    db.flush()
    raw, token_hash = security.new_token()
    db.add(AuthorisationLink(request_id=request.id, token_hash=token_hash, created_at=now))  # type: ignore[arg-type]
    return ClientRequest(firm_index=firm_number, link_token=raw, client_session=sessions.add_session(db, user=client))


# --- tabs ---------------------------------------------------------------------------------------


async def open_dashboard(backend_url: str, session_token: str) -> Tab:
    """A logged-in dashboard tab whose figures have loaded (and which now follows live changes)."""
    tab = Tab(backend_url, path=routes.DASHBOARD, cookies={SESSION_COOKIE_VAR: session_token})
    loaded = None
    try:
        await tab.open()
        loaded = tab.expect(holds(DashboardState, "loaded", True))
        await tab.arrival(loaded)
    except BaseException:
        await tab.close()
        raise
    return tab


async def open_activation(backend_url: str, request: ClientRequest) -> Tab:
    """The client's tab on the request's /activate/<token> page, loaded, logged in."""
    tab = Tab(
        backend_url, path=routes.activate(request.link_token), cookies={SESSION_COOKIE_VAR: request.client_session}
    )
    await tab.open()
    await tab.wait_for(holds(ActivateState, "loaded", True))
    return tab


def accept_event() -> str:
    return f"{ActivateState.get_full_name()}.accept"


# --- options and the report ---------------------------------------------------------------------


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """``--scale``, ``--scale-out`` and ``--output``, defaulting from BENCH_SCALE and BENCH_SCALE_OUT."""
    parser.add_argument(
        "--scale",
        choices=("small", "full"),
        default="small" if os.environ.get("BENCH_SCALE", "").strip() == "small" else "full",
        help="small: tiny sizes (a smoke run); full: the issue's sizes (default; BENCH_SCALE)",
    )
    parser.add_argument(
        "--scale-out",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BENCH_SCALE_OUT", "").strip() == "1",
        help="PostgreSQL + Redis (scripts/services.sh) and two workers instead of SQLite and one (BENCH_SCALE_OUT=1)",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default: benchmarks/results/...)")


@dataclass
class Row:
    """One line of a benchmark's table: a figure, the floor measured in the same run, the target."""

    name: str
    value: float
    floor: float | None
    target: str
    passed: bool
    unit: str = "ms"
    floor_name: str = "bare event round trip"

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None

    def as_dict(self) -> dict[str, Any]:
        """The row as benchmarks/run_all.py reads it (the JSON's "figures")."""
        return {
            "name": self.name, "value": round(self.value, 2), "unit": self.unit,
            "floor": None if self.floor is None else round(self.floor, 2),
            "floor_name": self.floor_name if self.floor is not None else None,
            "ratio": None if self.ratio is None else round(self.ratio, 2),
            "target": self.target, "met": self.passed,
        }  # fmt: skip


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f} {unit}".strip() if unit == "ms" or value != int(value) else f"{int(value)} {unit}".strip()


def print_rows(rows: Sequence[Row]) -> None:
    """The table every live benchmark prints: name, figure, floor, ratio, target, pass/fail."""
    print(
        format_table(
            ["name", "figure", "floor", "ratio", "target", "result"],
            [
                [
                    row.name,
                    _amount(row.value, row.unit),
                    _amount(row.floor, row.unit),
                    "-" if row.ratio is None else f"{row.ratio:.1f}x",
                    row.target,
                    "pass" if row.passed else "FAIL",
                ]
                for row in rows
            ],
        )
    )


def distribution(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p95, p99 and max of milliseconds."""
    return {
        "count": len(values),
        **{f"p{round(q * 100)}_ms": round(percentile(list(values), q), 2) for q in (0.5, 0.95, 0.99)},
        "max_ms": round(max(values), 2) if values else float("nan"),
    }
