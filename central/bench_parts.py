"""The parts ``gridwatch-central bench-ingest`` (and ``benchmarks/ingest.py``) are built from: a private
broker, a fresh database, central processes, simulated edges, and a watch on the events table.
"""

from __future__ import annotations

import getpass
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import sqlalchemy as sa
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from central.db import make_engine, migrate
from central.dead_letters import DeadLetter
from central.models import Event, Ticket
from contract.topics import Topics

if TYPE_CHECKING:
    from central.bench_ingest import Plan
    from central.bench_workload import Outgoing

EXTERNAL_WINDOW = 900
"""Events in flight at most on a broker the command did not start: Mosquitto's default queue per
session is 1,000 messages, beyond which QoS 1 messages are dropped."""
POLL_S = 0.025
STALL_S = 60.0
"""No new event stored for this long ends the wait; what is missing then counts as lost."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextmanager
def private_broker(scratch: Path, url: str | None) -> Iterator[str]:
    """``url`` if given, else a Mosquitto of our own whose queues hold a whole backlog in memory."""
    if url is not None:
        yield url
        return
    port = free_port()
    conf = scratch / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"user {getpass.getuser()}\n"
        "persistence false\n"
        "max_queued_messages 0\n"
        "max_queued_bytes 0\n"
        f"log_dest file {scratch}/mosquitto.log\n",
        encoding="utf-8",
    )
    process = subprocess.Popen(["mosquitto", "-c", str(conf)])
    try:
        _wait_for_port(port, 10)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


@contextmanager
def database(url: str | None, scratch: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new schema in the PostgreSQL of ``url``, dropped after."""
    if url is None or url.startswith("sqlite"):
        yield url or f"sqlite:///{scratch / uuid.uuid4().hex}.db"
        return
    schema = f"gwbench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Centrals:
    """K ``gridwatch-central serve`` processes in one shared-subscription group, each with its own session."""

    def __init__(self, plan: Plan, url: str, broker: str, topics: Topics, scratch: Path) -> None:
        self._plan = plan
        self._url = url
        self._scratch = scratch
        self._configs = [self._write_config(i, broker, topics) for i in range(plan.replicas)]
        self._running: list[tuple[subprocess.Popen[bytes], int]] = []
        self._migrated = False

    def _write_config(self, replica: int, broker: str, topics: Topics) -> tuple[Path, int]:
        port = free_port()
        path = self._scratch / f"central-{replica}.yaml"
        data = {
            "data_dir": str(self._scratch / f"central-{replica}"),
            "database": {"url": self._url},
            "http": {"port": port},
            "mqtt": {
                "url": broker,
                "topic_prefix": topics.prefix,
                "group": "bench",
                "client_id": f"bench-central-{replica}",
                "session_expiry_s": 3600,
                "batch_size": self._plan.batch_size,
                "batch_wait_ms": self._plan.batch_wait_ms,
            },
        }
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path, port

    def start(self) -> float:
        """Start every replica and wait until each has subscribed; returns when they were started."""
        if not self._migrated:
            engine = make_engine(self._url)
            migrate(engine)
            engine.dispose()
            self._migrated = True
        began = time.monotonic()
        for i, (path, port) in enumerate(self._configs):
            command = [
                sys.executable,
                "-m",
                "central.cli",
                "--log-level",
                "warning",
                "serve",
                "--config",
                str(path),
            ]
            with (self._scratch / f"central-{i}.log").open("ab") as log:  # the child keeps its own copy
                self._running.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), port))
        for process, port in self._running:
            self._wait_subscribed(process, port)
        return began

    def _wait_subscribed(self, process: subprocess.Popen[bytes], port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"a central exited with {process.returncode}; see its log in {self._scratch}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if json.load(answer).get("ingest_subscribed"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the central on port {port} did not subscribe within 60 s")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops them: each stores and acknowledges what it holds."""
        for process, _ in self._running:
            process.send_signal(signal.SIGTERM)
        for process, _ in self._running:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._running = []


class Publishers:
    """P simulated edges: one paho v5 client each, publishing QoS 1."""

    def __init__(self, broker: str, count: int) -> None:
        url = urlsplit(broker)
        self._clients = []
        for edge in range(count):
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{edge:05d}", protocol=mqtt.MQTTv5
            )
            client.max_inflight_messages_set(100)
            client.connect(url.hostname or "127.0.0.1", url.port or 1883)
            client.loop_start()
            self._clients.append(client)
        self.sent_at: dict[uuid.UUID, float] = {}

    def publish(self, outgoing: list[Outgoing], rate: float | None, watch: StoredWatch | None) -> float:
        """Publish everything (at ``rate`` a second, or flat out) and wait for the broker's acks;
        ``watch`` bounds the events in flight on a broker with default queue limits."""
        infos = []
        began = time.monotonic()
        for sent, message in enumerate(outgoing):
            if rate:
                delay = began + sent / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while watch is not None and watch.window and sent - watch.count() >= watch.window:
                time.sleep(0.001)
            self.sent_at[message.event_id] = time.monotonic()
            infos.append(self._clients[message.edge].publish(message.topic, message.payload, qos=1))
        for info in infos:
            info.wait_for_publish(120)
        return began

    def close(self) -> None:
        for client in self._clients:
            client.disconnect()
            client.loop_stop()


@dataclass(frozen=True)
class Figures:
    rows: int
    distinct: int
    tickets: int
    dead_letters: int


class StoredWatch:
    """Reads new rows of the events table every few milliseconds and notes when each event appeared.

    On PostgreSQL, transactions of several replicas commit out of id order, so each read goes back
    ``margin`` ids behind the highest seen.
    """

    def __init__(self, url: str, margin: int, window: int = 0) -> None:
        self._engine = make_engine(url)
        self._margin = margin
        self.window = window
        self.seen_at: dict[uuid.UUID, float] = {}
        self._top = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="bench-watch", daemon=True)
        self._thread.start()

    def count(self) -> int:
        return len(self.seen_at)

    def _poll(self) -> None:
        query = sa.select(Event.id, Event.event_id).where(Event.id > sa.bindparam("floor")).order_by(Event.id)
        while not self._stop.wait(POLL_S):
            with self._engine.connect() as connection:
                rows = connection.execute(query, {"floor": self._top - self._margin}).all()
            now = time.monotonic()
            for row in rows:
                self.seen_at.setdefault(row.event_id, now)
            if rows:
                self._top = max(self._top, rows[-1].id)

    def until_all(self, expected: set[uuid.UUID], total: int) -> None:
        """Wait, with a progress bar, until every expected event is stored or nothing new comes for a while."""
        last_count, last_change = -1, time.monotonic()
        with tqdm(total=total, unit="event", desc="stored", file=sys.stderr) as bar:
            while True:
                count = self.count()
                bar.update(count - bar.n)
                if count >= total and expected <= self.seen_at.keys():
                    return
                if count != last_count:
                    last_count, last_change = count, time.monotonic()
                elif time.monotonic() - last_change > STALL_S:
                    return
                time.sleep(0.2)

    def figures(self) -> Figures:
        with self._engine.connect() as connection:
            rows, distinct = connection.execute(
                sa.select(sa.func.count(), sa.func.count(sa.distinct(Event.event_id)))
            ).one()
            tickets = connection.scalar(sa.select(sa.func.count()).select_from(Ticket)) or 0
            letters = connection.scalar(sa.select(sa.func.count()).select_from(DeadLetter)) or 0
        return Figures(rows=rows, distinct=distinct, tickets=tickets, dead_letters=letters)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._engine.dispose()


def summarise(
    outgoing: list[Outgoing],
    sent_at: dict[uuid.UUID, float],
    seen_at: dict[uuid.UUID, float],
    began: float,
    drain_began: float | None,
) -> dict[str, Any]:
    """Throughput from the first publish (or the centrals' start, for a backlog) to the last stored event,
    latency percentiles, and the events never stored."""
    latencies = sorted(seen_at[o.event_id] - sent_at[o.event_id] for o in outgoing if o.event_id in seen_at)
    stored = len(latencies)
    last = max((seen_at[o.event_id] for o in outgoing if o.event_id in seen_at), default=began)
    start = drain_began if drain_began is not None else began
    seconds = max(last - start, 1e-9)
    return {
        "events_per_s": round(stored / seconds, 1),
        "p50_ms": _percentile(latencies, 0.50),
        "p95_ms": _percentile(latencies, 0.95),
        "p99_ms": _percentile(latencies, 0.99),
        "lost": len(outgoing) - stored,
        "seconds": round(seconds, 3),
        "drain_s": round(seconds, 3) if drain_began is not None else None,
    }


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 1)
