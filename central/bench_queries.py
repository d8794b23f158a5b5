"""``gridwatch-central bench-queries``: the console's queries over a large history, timed as users wait.

Every query goes through the HTTP API (a ``TestClient`` over the real app, with real tokens), so a
figure includes authentication, the SQL, and turning rows into JSON; only the change stream, which
never ends, is timed at its poll, the one query each replica runs a second while anyone listens.
Parameters vary between repetitions (another camera, another ticket), so one cached plan or page
does not stand for all of them. ``central.bench_seed`` writes the history.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from tqdm import tqdm

from central.app import create_app
from central.auth import Role, create_token
from central.bench_seed import DISTRICTS, HistoryWriter, city_departments, city_routes, count_tickets
from central.config import CentralConfig, parse_config
from central.db import migrate
from central.models import Camera, Ticket
from central.services import Services, build_services

Params = dict[str, str | int]


@dataclass(frozen=True)
class Context:
    """What a case needs to pick its parameters: the clock, the ids and the cameras that exist."""

    rnd: random.Random
    now: datetime
    max_ticket: int
    cameras: list[str]

    def department(self) -> str:
        return f"{self.rnd.choice(('cg', 'env'))}-{self.rnd.choice(DISTRICTS)}"

    def ago(self, days: float) -> str:
        return (self.now - timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class Case:
    """One console query: who asks, the path, and the parameters for one repetition."""

    name: str
    path: Callable[[Context], str]
    params: Callable[[Context], Params]
    caller: str = "operator"


def _queue(name: str, params: Callable[[Context], Params], caller: str = "operator") -> Case:
    return Case(name, lambda _c: "/api/v1/tickets", params, caller)


CASES: tuple[Case, ...] = (
    _queue("queue", lambda c: {}),
    _queue("queue limit=500", lambda c: {"limit": 500}),
    _queue("queue status=new", lambda c: {"status": "new"}),
    _queue("queue status=closed", lambda c: {"status": "closed"}),
    _queue("queue type", lambda c: {"type": c.rnd.choice(("dust", "illegal_building"))}),
    _queue("queue department", lambda c: {"department": c.department()}),
    _queue("queue district", lambda c: {"district": c.rnd.choice(DISTRICTS)}),
    _queue("queue camera", lambda c: {"camera": c.rnd.choice(c.cameras)}),
    _queue("queue since 7 days", lambda c: {"since": c.ago(7)}),
    _queue("queue a month last year", lambda c: {"since": c.ago(300), "until": c.ago(270)}),
    _queue("queue overdue", lambda c: {"overdue": "true"}),
    _queue("queue not overdue", lambda c: {"overdue": "false"}),
    _queue("queue status+department", lambda c: {"status": "in_progress", "department": c.department()}),
    _queue("queue type+district", lambda c: {"type": "dust", "district": c.rnd.choice(DISTRICTS)}),
    _queue("queue department+overdue", lambda c: {"department": c.department(), "overdue": "true"}),
    _queue(
        "queue status+type+district+since",
        lambda c: {
            "status": "closed",
            "type": "illegal_parking",
            "district": c.rnd.choice(DISTRICTS),
            "since": c.ago(30),
        },
    ),
    _queue("queue camera+status", lambda c: {"camera": c.rnd.choice(c.cameras), "status": "closed"}),
    _queue("queue (department staff)", lambda c: {}, caller="department"),
    _queue("queue (department staff) dispatched", lambda c: {"status": "dispatched"}, caller="department"),
    _queue("queue (department staff) overdue", lambda c: {"overdue": "true"}, caller="department"),
    Case("ticket detail", lambda c: f"/api/v1/tickets/{c.rnd.randint(1, c.max_ticket)}", lambda c: {}),
    Case(
        "ticket actions", lambda c: f"/api/v1/tickets/{c.rnd.randint(1, c.max_ticket)}/actions", lambda c: {}
    ),
    Case(
        "ticket reviews", lambda c: f"/api/v1/tickets/{c.rnd.randint(1, c.max_ticket)}/reviews", lambda c: {}
    ),
    Case("stats per department", lambda c: "/api/v1/stats/departments", lambda c: {}),
    Case("stats since 30 days", lambda c: "/api/v1/stats/departments", lambda c: {"since": c.ago(30)}),
    Case(
        "stats (department staff)", lambda c: "/api/v1/stats/departments", lambda c: {}, caller="department"
    ),
    Case("cameras", lambda c: "/api/v1/cameras", lambda c: {}),
)


CHANGE_POLL = "change stream poll"


@dataclass(frozen=True)
class Timing:
    name: str
    p50_ms: float
    p95_ms: float
    max_ms: float
    runs: int


def bench_config(database_url: str, data_dir: Path) -> CentralConfig:
    """The benchmark city's departments and routes on the given database."""
    data = {
        "database": {"url": database_url},
        "data_dir": str(data_dir),
        "departments": city_departments(),
        "routes": city_routes(),
    }
    return parse_config(data, "bench-queries")


@dataclass(frozen=True)
class Plan:
    """How much to seed and what to time."""

    tickets: int
    repeat: int
    reuse: bool = False
    only: tuple[str, ...] = ()
    """Time only the queries whose names contain one of these (every query when empty)."""
    progress: bool = True

    def wants(self, name: str) -> bool:
        return not self.only or any(part in name for part in self.only)


def run_benchmark(config: CentralConfig, plan: Plan) -> dict[str, Any]:
    """Seed (unless ``plan.reuse``), then time the queries; returns the JSON document."""
    services = build_services(config, with_ingest=False)
    try:
        migrate(services.engine)
        present = count_tickets(services.engine)
        if not plan.reuse and present:
            raise SystemExit(f"bench-queries: the database already holds {present} tickets; use --reuse")
        seed_s = 0.0
        if not plan.reuse:
            started = time.perf_counter()
            HistoryWriter(services.engine, services.clock.now()).write(plan.tickets, plan.progress)
            seed_s = time.perf_counter() - started
        timings = _measure(services, plan)
        return {
            "db": services.engine.dialect.name,
            "tickets": count_tickets(services.engine),
            "seed_s": round(seed_s, 1),
            "repeat": plan.repeat,
            "queries": [
                {"name": t.name, "p50_ms": t.p50_ms, "p95_ms": t.p95_ms, "max_ms": t.max_ms, "runs": t.runs}
                for t in timings
            ],
        }
    finally:
        services.close()


def _measure(services: Services, plan: Plan) -> list[Timing]:
    with services.sessions() as session:
        cameras = list(session.scalars(sa.select(Camera.camera_id)))
        max_ticket = session.scalar(sa.select(sa.func.max(Ticket.id))) or 1
    context = Context(random.Random(14), services.clock.now(), max_ticket, cameras)
    headers = _callers(services)
    client = TestClient(create_app(services))  # no lifespan: nothing here needs the broker
    for name in ("httpx", "httpx2"):  # one log line per timed request would drown the table
        logging.getLogger(name).setLevel(logging.WARNING)
    timings = []
    cases = [case for case in CASES if plan.wants(case.name)]
    for case in tqdm(cases, desc="queries", unit="query", disable=not plan.progress):
        runs = [_time_request(client, case, context, headers[case.caller]) for _ in range(plan.repeat + 1)]
        timings.append(_timing(case.name, runs[1:]))  # the first run warms caches and is not counted
    if plan.wants(CHANGE_POLL):
        timings.append(_timing(CHANGE_POLL, _time_change_poll(services, plan.repeat)))
    return timings


def _callers(services: Services) -> dict[str, dict[str, str]]:
    with services.sessions.begin() as session:
        operator = create_token(session, services.clock, Role.operator, "bench-operator")
        staff = create_token(session, services.clock, Role.department, "bench-staff", f"cg-{DISTRICTS[0]}")
    return {"operator": _bearer(operator), "department": _bearer(staff)}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _time_request(client: TestClient, case: Case, context: Context, headers: dict[str, str]) -> float:
    path, params = case.path(context), case.params(context)
    started = time.perf_counter()
    response = client.get(path, params=params, headers=headers)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(
            f"{case.name}: GET {path} {params} answered {response.status_code}: {response.text}"
        )
    return elapsed * 1000


def _time_change_poll(services: Services, repeat: int) -> list[float]:
    """The change feed's own poll, catching up on the last few hundred changes with gaps to chase."""
    feed = services.changes
    newest = feed._newest_id()  # the feed's own queries, timed as the route runs them
    samples = []
    for _ in range(repeat):
        feed._cursor = newest - 300
        feed._gaps = {newest - 300 - gap: time.monotonic() for gap in range(1, 200)}
        started = time.perf_counter()
        feed._poll()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _timing(name: str, samples: list[float]) -> Timing:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return Timing(
        name, round(statistics.median(ordered), 1), round(p95, 1), round(ordered[-1], 1), len(ordered)
    )


def table(result: dict[str, Any]) -> str:
    """The timings as a readable table, the slowest p95 marked against the 200 ms target."""
    lines = [
        f"{result['tickets']:,} tickets on {result['db']} ({result['repeat']} runs each)",
        f"{'query':<42} {'p50 ms':>9} {'p95 ms':>9} {'max ms':>9}",
    ]
    for row in result["queries"]:
        flag = "  over 200 ms" if row["p95_ms"] > 200 else ""
        lines.append(
            f"{row['name']:<42} {row['p50_ms']:>9.1f} {row['p95_ms']:>9.1f} {row['max_ms']:>9.1f}{flag}"
        )
    return "\n".join(lines)


def bench_queries(args: argparse.Namespace) -> int:
    """The command: seed and measure, print the table, write the JSON."""
    config = bench_config(args.db or f"sqlite:///{args.data_dir / 'central.db'}", args.data_dir)
    plan = Plan(args.tickets, args.repeat, args.reuse, tuple(args.only or ()), progress=not args.no_progress)
    result = run_benchmark(config, plan)
    result["at"] = datetime.now(UTC).isoformat()
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


def add_bench_queries_command(commands: Any) -> None:
    """``bench-queries`` among ``gridwatch-central``'s subcommands."""
    parser = commands.add_parser(
        "bench-queries", help="seed a large ticket history and time the console's queries (p50/p95)"
    )
    parser.add_argument("--tickets", type=int, default=1_000_000, help="tickets to seed (default 1,000,000)")
    parser.add_argument(
        "--db", help="database URL (default: a SQLite file in --data-dir); must hold no tickets"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var/bench-queries"),
        help="the SQLite file's folder without --db",
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed runs of each query (default 20)")
    parser.add_argument("--reuse", action="store_true", help="time the history already in the database")
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="time only queries whose names contain TEXT (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=bench_queries)
