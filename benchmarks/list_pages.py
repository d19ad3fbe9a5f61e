"""Benchmark of the server-paged lists at 5,000 rows (issue 10 B): a page change of each list.

The lists: authorisations (requests sent), organisations (half own, half client organisations
reached through 20 partnerships), users, partners (5,000 active partnerships), client keys (client
organisations reached through 20 partnerships) and activity (the activity log).

It builds a throw-away database with the migrations; for each list it loads 5,000 rows of that
list for a new environment, and times the page changes a user makes through the list's own service
function (the one its page calls): the first page, a page in the middle, the last page, each sort
key both ways, and a search. Next to it, the floor measured in the same run: reading one row by its
primary key on the same engine. Prints a table, writes ``benchmarks/results/list_pages-<db>.json``
and exits 1 when a list's p95 is over ``--target-ms`` (300).

    .venv/bin/python -m benchmarks.list_pages                      # SQLite, 5,000 rows per list
    .venv/bin/python -m benchmarks.list_pages --db postgresql      # uses ECONNECT_TEST_DB_URL
    .venv/bin/python -m benchmarks.list_pages --rows 200 --repetitions 2   # a quick look
    .venv/bin/python -m benchmarks.list_pages --lists users,activity       # some lists only

What a user waits for on a page change is this figure plus one event round trip of the app
(``benchmarks/live_latency.py`` measures that floor over real websockets).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: python benchmarks/list_pages.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from benchmarks.support import (
    RESULTS_DIR,
    database_version,
    format_table,
    machine,
    migrate_to_head,
    percentile,
    temporary_database,
    write_json,
)
from econnect_app import security
from econnect_app.db import make_engine
from econnect_app.models import (
    ActivityLog,
    AuthorisationRequest,
    CostAllocation,
    Environment,
    Membership,
    MembershipRole,
    Organisation,
    Partnership,
    PartnershipOrigin,
    Plan,
    Role,
    SoftwarePackage,
    User,
    UserStatus,
    organisation_key,
    utcnow,
)
from econnect_app.services import activity_log, authorisations, keys, organisation_overview, partners, users
from econnect_app.services.activity import ORGANISATION_SUBJECT
from econnect_app.services.paging import ListQuery

DEFAULT_ROWS = 5_000
TARGET_MS = 300.0


@dataclass(frozen=True)
class ListCase:
    """One list: how to load its rows for an environment, and its page function (the service call
    the page makes), with the sort keys it offers and a search that finds some rows."""

    name: str
    load: Callable[[Session, User, int], None]  # loads exactly the given number of rows the list shows
    page: Callable[[Session, User, ListQuery], Any]
    sort_keys: Sequence[str]
    search: str


def _firm(session: Session, list_name: str) -> User:
    """An environment on the Professional plan and its Administrator (one per list)."""
    environment = Environment(name="Benchmark Accountants", plan=Plan.PROFESSIONAL.value)
    session.add(environment)
    session.flush()
    admin = User(
        environment_id=environment.id,  # type: ignore[arg-type]
        name="Anna Bench",
        email=f"anna@{list_name}.bench.example",
        role=Role.ADMINISTRATOR.value,
        email_confirmed_at=utcnow(),
    )
    session.add(admin)
    session.commit()
    return admin


def _load_requests(session: Session, actor: User, rows: int) -> None:
    package = session.exec(select(SoftwarePackage).order_by(SoftwarePackage.id)).first()  # type: ignore[arg-type]
    assert package is not None, "the migrations seed the software packages"
    now = utcnow()
    statuses = ["Pending", "Accepted", "Declined", "Withdrawn"]
    session.add_all(
        AuthorisationRequest(
            environment_id=actor.environment_id,
            requested_by_id=actor.id,  # type: ignore[arg-type]
            client_name=f"Client {number:05d}",
            client_email=f"client{number:05d}@example.com",
            organisation_name=f"Organisation {number:05d} BV",
            organisation_key=organisation_key(f"Organisation {number:05d} BV"),
            software_package_id=package.id,  # type: ignore[arg-type]
            status=statuses[number % len(statuses)],
            created_at=now - timedelta(minutes=number),
            last_sent_at=now - timedelta(minutes=number),
            expires_at=now + timedelta(days=14) - timedelta(minutes=number),
        )
        for number in range(rows)
    )
    session.commit()


PARTNER_ENVIRONMENTS = 20  # the client environments the organisations and client keys lists reach


def _packages(session: Session) -> list[SoftwarePackage]:
    packages = list(session.exec(select(SoftwarePackage).order_by(SoftwarePackage.id)))  # type: ignore[arg-type]
    assert packages, "the migrations seed the software packages"
    return packages


def _organisation(
    environment_id: int, number: int, *, activated: bool, package_id: int | None
) -> Organisation:
    return Organisation(
        environment_id=environment_id,
        name=f"Organisation {number:05d} BV",
        kvk_number=str(10_000_000 + number),
        city=["Utrecht", "Zwolle", "Gent", "Amsterdam"][number % 4],
        identifier=security.new_public_identifier(),
        activated_at=utcnow() if activated else None,
        software_package_id=package_id,
    )


def _client_organisations(session: Session, actor: User, count: int, *, first_number: int = 0) -> None:
    """``count`` activated organisations of PARTNER_ENVIRONMENTS client environments, each in an
    active partnership with the actor's environment, with the actor as an Active member of each:
    the client organisations the actor reaches (``access.client_organisations_condition``)."""
    packages = _packages(session)
    clients = [Environment(name=f"Client firm {number:02d}") for number in range(PARTNER_ENVIRONMENTS)]
    session.add_all(clients)
    session.flush()
    session.add_all(
        Partnership(
            environment_low_id=min(actor.environment_id, client.id),  # type: ignore[type-var]
            environment_high_id=max(actor.environment_id, client.id),  # type: ignore[type-var]
            initiator_environment_id=actor.environment_id,
        )
        for client in clients
    )
    organisations = [
        _organisation(
            clients[number % PARTNER_ENVIRONMENTS].id,  # type: ignore[arg-type]
            first_number + number,
            activated=True,
            package_id=packages[number % len(packages)].id if number % 3 else None,
        )
        for number in range(count)
    ]
    session.add_all(organisations)
    session.flush()
    session.add_all(
        Membership(organisation_id=organisation.id, user_id=actor.id)  # type: ignore[arg-type]
        for organisation in organisations
    )
    session.commit()


def _load_organisations(session: Session, actor: User, rows: int) -> None:
    """Half the rows own organisations (a fifth of those with the actor as their Administrator,
    one in ten not activated), half client organisations reached through partnerships."""
    own = rows // 2
    organisations = [
        _organisation(actor.environment_id, number, activated=number % 10 != 0, package_id=None)
        for number in range(own)
    ]
    session.add_all(organisations)
    session.flush()
    session.add_all(
        Membership(
            organisation_id=organisation.id,  # type: ignore[arg-type]
            user_id=actor.id,  # type: ignore[arg-type]
            role=MembershipRole.ADMINISTRATOR.value,
        )
        for organisation in organisations[::5]
    )
    session.commit()
    _client_organisations(session, actor, rows - own, first_number=own)


def _load_client_keys(session: Session, actor: User, rows: int) -> None:
    _client_organisations(session, actor, rows)


def _load_users(session: Session, actor: User, rows: int) -> None:
    """The actor and ``rows - 1`` more users of the environment: every role and status."""
    roles = [Role.USER.value, Role.ADVANCED_USER.value, Role.ADMINISTRATOR.value]
    statuses = [UserStatus.ACTIVE.value] * 3 + [UserStatus.INVITED.value, UserStatus.BLOCKED.value]
    session.add_all(
        User(
            environment_id=actor.environment_id,
            name=f"User {number:05d}" if number % 7 else "",
            email=f"user{number:05d}@users.bench.example",
            role=roles[number % len(roles)],
            is_relationship_manager=number % 4 == 0,
            status=statuses[number % len(statuses)],
        )
        for number in range(1, rows)
    )
    session.commit()


def _load_partnerships(session: Session, actor: User, rows: int) -> None:
    """``rows`` active partnerships, each with an environment of its own."""
    environments = [Environment(name=f"Partner {number:05d}") for number in range(rows)]
    session.add_all(environments)
    session.flush()
    now = utcnow()
    origins = [PartnershipOrigin.AUTHORISATION_REQUEST.value, PartnershipOrigin.RELATIONSHIP_REQUEST.value]
    costs = [CostAllocation.CLIENT.value, CostAllocation.INTERMEDIARY.value]
    session.add_all(
        Partnership(
            environment_low_id=min(actor.environment_id, environment.id),  # type: ignore[type-var]
            environment_high_id=max(actor.environment_id, environment.id),  # type: ignore[type-var]
            initiator_environment_id=actor.environment_id,
            created_via=origins[number % 2],
            cost_allocation=costs[number % 3 == 0],
            created_at=now - timedelta(hours=number),
        )
        for number, environment in enumerate(environments)
    )
    session.commit()


def _load_activity(session: Session, actor: User, rows: int) -> None:
    """``rows`` rows of the environment's activity log, one a minute, most about one of 50 of its
    organisations, some by no one (an expiry)."""
    organisations = [
        _organisation(actor.environment_id, number, activated=True, package_id=None) for number in range(50)
    ]
    session.add_all(organisations)
    session.flush()
    now = utcnow()
    session.add_all(
        ActivityLog(
            environment_id=actor.environment_id,
            actor_user_id=None if number % 10 == 0 else actor.id,
            action=["organisation.added", "member.added", "request.expired"][number % 3],
            summary=f"Anna Bench changed Organisation {number:05d} BV.",
            subject_type=ORGANISATION_SUBJECT if number % 5 else None,
            subject_id=organisations[number % len(organisations)].id if number % 5 else None,
            created_at=now - timedelta(minutes=number),
        )
        for number in range(rows)
    )
    session.commit()


LISTS: list[ListCase] = [
    ListCase(
        name="authorisations",
        load=_load_requests,
        page=lambda session, actor, query: authorisations.requests_page(session, actor=actor, query=query),
        sort_keys=authorisations.REQUEST_SORT_KEYS,
        search="organisation 012",
    ),
    ListCase(
        name="organisations",
        load=_load_organisations,
        page=lambda session, actor, query: organisation_overview.organisations_page(
            session, actor=actor, query=query
        ),
        sort_keys=organisation_overview.SORT_KEYS,
        search="organisation 012",
    ),
    ListCase(
        name="users",
        load=_load_users,
        page=lambda session, actor, query: users.users_page(session, actor=actor, query=query),
        sort_keys=users.USER_SORT_KEYS,
        search="user 012",
    ),
    ListCase(
        name="partners",
        load=_load_partnerships,
        page=lambda session, actor, query: partners.partnerships_page(session, actor=actor, query=query),
        sort_keys=tuple(partners.PARTNERSHIP_SORTS),
        search="partner 012",
    ),
    ListCase(
        name="client_keys",
        load=_load_client_keys,
        page=lambda session, actor, query: keys.client_keys_page(session, actor=actor, query=query),
        sort_keys=tuple(keys.CLIENT_KEY_SORTS),
        search="organisation 012",
    ),
    ListCase(
        name="activity",
        load=_load_activity,
        page=lambda session, actor, query: activity_log.activity_page(session, actor=actor, query=query),
        sort_keys=(activity_log.SORT_TIME,),
        search="organisation 012",
    ),
]


def _views(case: ListCase, rows: int) -> list[tuple[str, ListQuery]]:
    """The page changes timed: first, middle and last page, each sort both ways, a search."""
    last_page = max(1, -(-rows // 50))
    views = [
        ("first page", ListQuery()),
        ("middle page", ListQuery(page=max(1, last_page // 2))),
        ("last page", ListQuery(page=last_page)),
        ("search", ListQuery(search=case.search)),
    ]
    for key in case.sort_keys:
        views += [
            (f"sort {key}", ListQuery(sort=key)),
            (f"sort -{key}", ListQuery(sort=key, descending=True)),
        ]
    return views


def _time_ms(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def measure_case(engine: Engine, case: ListCase, *, rows: int, repetitions: int) -> dict[str, Any]:
    """Load the list's rows and time its page changes next to a primary-key read."""
    with Session(engine) as session:
        actor = _firm(session, case.name)
        case.load(session, actor, rows)
        actor_id = actor.id
    timings: list[float] = []
    floor: list[float] = []
    slowest: tuple[float, str] = (0.0, "")
    with Session(engine) as session:
        actor = session.get(User, actor_id)
        assert actor is not None
        first = case.page(session, actor, ListQuery())
        assert first.total == rows, f"{case.name}: {first.total} rows listed, {rows} loaded"
        for _ in range(repetitions):
            for label, query in _views(case, rows):
                session.expunge_all()
                elapsed = _time_ms(lambda query=query: case.page(session, actor, query))
                timings.append(elapsed)
                slowest = max(slowest, (elapsed, label))
                session.expunge_all()
                floor.append(_time_ms(lambda: session.get(User, actor_id)))
    return {
        "rows": rows,
        "page_changes": len(timings),
        "p50_ms": round(percentile(timings, 0.5), 2),
        "p95_ms": round(percentile(timings, 0.95), 2),
        "max_ms": round(max(timings), 2),
        "slowest_view": slowest[1],
        "floor_p50_ms": round(percentile(floor, 0.5), 3),
        "ratio_p95_to_floor": round(percentile(timings, 0.95) / max(percentile(floor, 0.5), 1e-6), 1),
    }


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows per list (default 5000)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--url", help="PostgreSQL server URL (default: ECONNECT_TEST_DB_URL)")
    parser.add_argument("--repetitions", type=int, default=5, help="timed runs of each view (default 5)")
    parser.add_argument("--target-ms", type=float, default=TARGET_MS, help="p95 limit per list (default 300)")
    parser.add_argument("--lists", help="comma-separated list names (default: all)")
    parser.add_argument(
        "--output", type=Path, help="JSON file (default benchmarks/results/list_pages-<db>.json)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    wanted = set(args.lists.split(",")) if args.lists else None
    cases = [case for case in LISTS if wanted is None or case.name in wanted]
    results: dict[str, dict[str, Any]] = {}
    with temporary_database(args.db, server_url=args.url) as url:
        migrate_to_head(url)
        engine = make_engine(url)
        try:
            for case in cases:
                results[case.name] = measure_case(engine, case, rows=args.rows, repetitions=args.repetitions)
            version = database_version(engine)
        finally:
            engine.dispose()
    rows = [
        [name, f"{figures['p50_ms']:.1f}", f"{figures['p95_ms']:.1f}", f"{figures['max_ms']:.1f}",
         figures["slowest_view"], f"{figures['floor_p50_ms']:.2f}", f"{figures['ratio_p95_to_floor']:.0f}x",
         "yes" if figures["p95_ms"] <= args.target_ms else "NO"]
        for name, figures in results.items()
    ]  # fmt: skip
    print(f"\nPage changes at {args.rows:,} rows per list ({version}, load average {os.getloadavg()[0]:.2f})")
    print(
        format_table(
            [
                "list",
                "p50 ms",
                "p95 ms",
                "max ms",
                "slowest",
                "floor ms",
                "p95/floor",
                f"p95<={args.target_ms:g}",
            ],
            rows,
        )
    )
    over = {
        name: figures["p95_ms"] for name, figures in results.items() if figures["p95_ms"] > args.target_ms
    }
    output = write_json(
        args.output or RESULTS_DIR / f"list_pages-{args.db}.json",
        {
            "benchmark": "list_pages",
            "db": args.db,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "database_version": version,
            "target_p95_ms": args.target_ms,
            "target_met": not over,
            "lists": results,
            "figures": [
                {
                    "name": f"{name}: page change p95 at {figures['rows']:,} rows",
                    "value": figures["p95_ms"],
                    "unit": "ms",
                    "floor": figures["floor_p50_ms"],
                    "floor_name": "one row by primary key",
                    "target": f"p95 < {args.target_ms:g} ms",
                    "met": figures["p95_ms"] <= args.target_ms,
                }
                for name, figures in results.items()
            ],
        },
    )
    print(f"written to {output}")
    if over:
        print(f"p95 over {args.target_ms:g} ms: {over}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
