"""``gridwatch-central bench-ingest``: the whole ingest path measured through a real broker.

P simulated edges (real paho clients, QoS 1, one device id each; ``central.bench_workload``) publish
N events to K central processes that this command starts itself (``gridwatch-central serve``), on a
fresh database. Stored events are read back from the database as they appear, so the figures are
what the database holds: events per second from the first publish to the last event stored, the
publish-to-stored latency, and events lost or stored twice. ``--backlog`` queues every event in
the broker while the centrals are stopped, then starts them and times the drain.

Without ``--mqtt`` the command runs its own Mosquitto with the queue limits raised (a broker's
default 1,000 queued messages per session drops a backlog); without ``--db`` it uses a SQLite file.
A PostgreSQL ``--db`` gets a fresh schema, dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from central.bench_parts import (
    EXTERNAL_WINDOW,
    Centrals,
    Publishers,
    StoredWatch,
    database,
    private_broker,
    summarise,
)
from central.bench_workload import check, workload
from contract.topics import Topics

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Plan:
    events: int
    publishers: int
    rate: float | None
    replicas: int
    db: str | None
    mqtt: str | None
    backlog: bool
    batch_size: int
    batch_wait_ms: int


@dataclass(frozen=True)
class Result:
    db: str
    replicas: int
    events: int
    publishers: int
    rate: float | None
    backlog: bool
    events_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    lost: int
    duplicated: int
    tickets: int
    dead_letters: int
    seconds: float
    drain_s: float | None
    batch_size: int


def run(plan: Plan, scratch: Path) -> Result:
    topics = Topics("bench/gridwatch/v1")
    outgoing = workload(plan.events, plan.publishers, topics)
    check(outgoing[:200])
    with private_broker(scratch, plan.mqtt) as broker, database(plan.db, scratch) as url:
        centrals = Centrals(plan, url, broker, topics, scratch)
        publishers = Publishers(broker, plan.publishers)
        try:
            centrals.start()
            watch = StoredWatch(url, plan.replicas * plan.batch_size * 2, EXTERNAL_WINDOW if plan.mqtt else 0)
            try:
                if plan.backlog:
                    centrals.stop()
                began = publishers.publish(outgoing, plan.rate, None if plan.backlog else watch)
                drain_began = centrals.start() if plan.backlog else None
                watch.until_all({o.event_id for o in outgoing}, len(outgoing))
                figures = watch.figures()
            finally:
                watch.close()
        finally:
            publishers.close()
            centrals.stop()
    return Result(
        db=url.split(":", 1)[0].split("+", 1)[0],
        replicas=plan.replicas,
        events=plan.events,
        publishers=plan.publishers,
        rate=plan.rate,
        backlog=plan.backlog,
        **summarise(outgoing, publishers.sent_at, watch.seen_at, began, drain_began),
        tickets=figures.tickets,
        dead_letters=figures.dead_letters,
        duplicated=figures.rows - figures.distinct,
        batch_size=plan.batch_size,
    )


def table(result: Result) -> str:
    rows = [
        ("database", result.db),
        ("replicas", result.replicas),
        ("publishers", result.publishers),
        ("events", result.events),
        ("offered rate", f"{result.rate:.0f}/s" if result.rate else "flat out"),
        ("backlog", "yes" if result.backlog else "no"),
        ("events/s (first publish -> last stored)", f"{result.events_per_s:.0f}"),
        ("latency p50 / p95 / p99 (ms)", f"{result.p50_ms:.0f} / {result.p95_ms:.0f} / {result.p99_ms:.0f}"),
        ("drain time (s)", f"{result.drain_s:.1f}" if result.drain_s is not None else "-"),
        ("lost / duplicated", f"{result.lost} / {result.duplicated}"),
        ("tickets opened", result.tickets),
        ("dead letters", result.dead_letters),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def bench_command(args: argparse.Namespace) -> int:
    plan = Plan(
        events=args.events,
        publishers=args.publishers,
        rate=args.rate,
        replicas=args.replicas,
        db=args.db,
        mqtt=args.mqtt,
        backlog=args.backlog,
        batch_size=args.batch_size,
        batch_wait_ms=args.batch_wait_ms,
    )
    with tempfile.TemporaryDirectory(prefix="gridwatch-bench-") as scratch:
        result = run(plan, Path(scratch))
    print(table(result))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")
    return 0 if result.lost == 0 and result.duplicated == 0 else 1


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return value


def add_bench_command(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]  # argparse's private generic
    parser = commands.add_parser(
        "bench-ingest",
        help="measure events/s and latency through a real broker into tickets",
        description=__doc__,
    )
    parser.add_argument("--events", type=_positive, default=20_000, help="events to publish (default 20000)")
    parser.add_argument("--publishers", type=_positive, default=20, help="simulated edges (default 20)")
    parser.add_argument("--rate", type=float, help="offer this many events/s in total (default: flat out)")
    parser.add_argument("--replicas", type=_positive, default=1, help="central processes (default 1)")
    parser.add_argument(
        "--db", help="database URL (default: a fresh SQLite file); PostgreSQL gets a fresh schema"
    )
    parser.add_argument("--mqtt", help="broker URL (default: a private Mosquitto with raised queue limits)")
    parser.add_argument(
        "--backlog", action="store_true", help="queue every event while the centrals are stopped"
    )
    parser.add_argument("--batch-size", type=_positive, default=500, help="the centrals' mqtt.batch_size")
    parser.add_argument("--batch-wait-ms", type=int, default=50, help="the centrals' mqtt.batch_wait_ms")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures as JSON")
    parser.set_defaults(handler=bench_command)
