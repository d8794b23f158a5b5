"""A year of a city's tickets, written fast, for ``bench-queries``.

The history looks like the real one where the queries care: three types over eight districts,
each routed to its district's city-management or environment department; most tickets older than
a few days are finished (closed, rejected as false alarms, or duplicates) while recent ones are
spread over the open states, some past their deadlines; each ticket has its events (one to four),
their evidence (media rows and references) and the audit entries of every step it took.

Rows go in by ``COPY`` on PostgreSQL and by ``executemany`` elsewhere, a chunk of tickets at a
time with everything that belongs to them; ids are chosen here, so no row waits for another's.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from tqdm import tqdm

from central.models import AuditEntry, Base, Camera, Device, Event, EventMedia, MediaObject, Ticket
from central.workflow import Action, Status
from contract.event_types import CATALOGUE, EventType

DISTRICTS = ("chongchuan", "gangzha", "tongzhou", "haimen", "qidong", "rugao", "rudong", "haian")
CAMERAS_PER_DEVICE = 18
"""About 180,000 cameras behind about 10,000 boxes."""
CHUNK = 5000
"""Tickets written per round trip, with their events, media and audit entries."""
YEAR = timedelta(days=365)

_PATHS: dict[Status, tuple[Action, ...]] = {
    Status.new: (Action.open,),
    Status.dispatched: (Action.open, Action.dispatch),
    Status.accepted: (Action.open, Action.dispatch, Action.accept),
    Status.in_progress: (Action.open, Action.dispatch, Action.accept, Action.start),
    Status.resolved: (Action.open, Action.dispatch, Action.accept, Action.start, Action.resolve),
    Status.closed: (Action.open, Action.dispatch, Action.accept, Action.start, Action.resolve, Action.close),
    Status.rejected: (Action.open, Action.reject),
    Status.duplicate: (Action.open, Action.mark_duplicate),
    Status.reopened: (
        Action.open,
        Action.dispatch,
        Action.accept,
        Action.start,
        Action.resolve,
        Action.close,
        Action.reopen,
    ),
}
"""The actions that brought a ticket to each state, in order."""
_FINISHED_MIX = ((Status.closed, 80), (Status.rejected, 12), (Status.duplicate, 5), (Status.reopened, 1))
_OPEN_MIX = (
    (Status.new, 15),
    (Status.dispatched, 25),
    (Status.accepted, 20),
    (Status.in_progress, 25),
    (Status.resolved, 15),
)


def city_departments() -> list[dict[str, str]]:
    """The benchmark city's departments: city management and environment for each district."""
    return [{"id": f"{kind}-{d}", "name": f"{kind} {d}"} for d in DISTRICTS for kind in ("cg", "env")]


def city_routes() -> list[dict[str, str]]:
    """Parking and building go to a district's city management, dust to its environment bureau."""
    return [
        {"type": kind.value, "district": d, "department": f"{'env' if kind is EventType.dust else 'cg'}-{d}"}
        for d in DISTRICTS
        for kind in EventType
    ]


@dataclass
class _Rows:
    """One chunk's rows per table, in the column order of ``COLUMNS``."""

    tables: dict[str, list[tuple[Any, ...]]] = field(
        default_factory=lambda: {
            name: [] for name in ("tickets", "events", "event_media", "media", "audit_log")
        }
    )


COLUMNS: dict[str, tuple[str, ...]] = {
    "tickets": (
        "id",
        "type",
        "status",
        "source",
        "department",
        "district",
        "device_id",
        "camera_id",
        "zone_id",
        "site",
        "description",
        "opened_at",
        "updated_at",
        "first_seen_at",
        "last_seen_at",
        "event_count",
        "dispatched_at",
        "sign_by",
        "resolve_by",
        "accepted_at",
        "resolved_at",
        "closed_at",
    ),
    "events": (
        "id",
        "event_id",
        "ticket_id",
        "phase",
        "type",
        "device_id",
        "camera_id",
        "zone_id",
        "episode_id",
        "started_at",
        "observed_at",
        "ended_at",
        "received_at",
        "confidence",
        "details",
    ),
    "event_media": ("id", "event_pk", "sha256", "kind", "content_type", "bytes", "label"),
    "media": ("sha256", "content_type", "bytes", "uploaded_at", "uploaded_by"),
    "audit_log": ("id", "ticket_id", "at", "actor", "role", "action", "from_status", "to_status", "comment"),
}
_TABLES: dict[str, type[Base]] = {
    "tickets": Ticket,
    "events": Event,
    "event_media": EventMedia,
    "media": MediaObject,
    "audit_log": AuditEntry,
}
_SEQUENCES = {"tickets": "id", "events": "id", "event_media": "id", "audit_log": "id"}


@dataclass
class _Counters:
    event: int = 0
    media: int = 0
    audit: int = 0


class HistoryWriter:
    """Makes and writes the history of ``count`` tickets ending at ``now``."""

    def __init__(self, engine: sa.Engine, now: datetime, seed: int = 8) -> None:
        self._engine = engine
        self._now = now
        self._random = random.Random(seed)
        self._ids = _Counters()
        self._cameras: list[tuple[str, str, str]] = []

    def write(self, count: int, progress: bool = True) -> None:
        """Cameras first, then the tickets in chunks; sequences and planner statistics last."""
        self._write_cameras(count)
        with tqdm(total=count, unit="ticket", desc="seeding", disable=not progress) as bar:
            for start in range(1, count + 1, CHUNK):
                end = min(start + CHUNK, count + 1)
                rows = _Rows()
                for ticket_id in range(start, end):
                    self._ticket(ticket_id, count, rows)
                self._flush(rows)
                bar.update(end - start)
        self._finish()

    def _write_cameras(self, count: int) -> None:
        cameras = max(20, min(180_000, count // 50))
        devices: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for index in range(cameras):
            device_id = f"box-{index // CAMERAS_PER_DEVICE:05d}"
            district = DISTRICTS[(index // CAMERAS_PER_DEVICE) % len(DISTRICTS)]
            if index % CAMERAS_PER_DEVICE == 0:
                devices.append(
                    {
                        "device_id": device_id,
                        "state": "online",
                        "last_seen_at": self._now,
                        "outbox_pending": 0,
                    }
                )
            camera_id = f"cam-{index:06d}"
            self._cameras.append((device_id, camera_id, district))
            rows.append(
                {
                    "device_id": device_id,
                    "camera_id": camera_id,
                    "district": district,
                    "state": "streaming",
                    "updated_at": self._now,
                }
            )
        with self._engine.begin() as connection:
            connection.execute(sa.insert(Device), devices)
            connection.execute(sa.insert(Camera), rows)

    def _ticket(self, ticket_id: int, count: int, rows: _Rows) -> None:
        rnd = self._random
        kind = rnd.choices(list(EventType), weights=(70, 20, 10))[0]
        device_id, camera_id, district = self._cameras[rnd.randrange(len(self._cameras))]
        department = f"{'env' if kind is EventType.dust else 'cg'}-{district}"
        opened = self._now - YEAR * (1 - ticket_id / count) - timedelta(seconds=rnd.uniform(0, 600))
        age = self._now - opened
        status = _status_for(rnd, age)
        path = _PATHS[status]
        info = CATALOGUE[kind]
        dispatched = opened + timedelta(minutes=rnd.uniform(1, 30)) if Action.dispatch in path else None
        steps = _step_times(rnd, opened, len(path), age)
        events = 1 + min(3, int(rnd.expovariate(1.0)))
        last_seen = opened + timedelta(minutes=rnd.uniform(0, 20) * (events - 1))
        rows.tables["tickets"].append(
            (
                ticket_id,
                kind.value,
                status.value,
                "edge",
                department,
                district,
                device_id,
                camera_id,
                f"zone-{rnd.randrange(3)}",
                f"site-{camera_id}" if kind is not EventType.illegal_parking else None,
                "",
                opened,
                steps[-1],
                opened,
                last_seen,
                events,
                dispatched,
                dispatched + timedelta(hours=info.sign_hours) if dispatched else None,
                dispatched + timedelta(hours=info.resolve_hours) if dispatched else None,
                _time_of(path, steps, Action.accept),
                _time_of(path, steps, Action.resolve),
                _time_of(path, steps, Action.close, Action.reject, Action.mark_duplicate)
                if status is not Status.reopened
                else None,
            )
        )
        self._events(rows, ticket_id, kind, (device_id, camera_id), opened, events)
        self._audit(rows, ticket_id, path, steps, department)

    def _events(
        self,
        rows: _Rows,
        ticket_id: int,
        kind: EventType,
        place: tuple[str, str],
        opened: datetime,
        count: int,
    ) -> None:
        rnd = self._random
        episode = uuid.UUID(int=rnd.getrandbits(128), version=4)
        for index in range(count):
            self._ids.event += 1
            phase = "start" if index == 0 else ("end" if index == count - 1 else "update")
            observed = opened + timedelta(minutes=5 * index)
            rows.tables["events"].append(
                (
                    self._ids.event,
                    uuid.UUID(int=rnd.getrandbits(128), version=4),
                    ticket_id,
                    phase,
                    kind.value,
                    place[0],
                    place[1],
                    "zone-0",
                    str(episode),
                    opened,
                    observed,
                    observed if phase == "end" else None,
                    observed + timedelta(seconds=rnd.uniform(0.1, 3)),
                    round(rnd.uniform(0.4, 0.99), 3),
                    {"episode_id": str(episode), "track_id": rnd.randrange(1000)},
                )
            )
            for media_kind in ("snapshot", "clip") if phase == "start" else ("snapshot",):
                self._media(rows, media_kind, place[0], observed)

    def _media(self, rows: _Rows, kind: str, device_id: str, at: datetime) -> None:
        self._ids.media += 1
        sha256 = hashlib.sha256(self._ids.media.to_bytes(8, "big")).hexdigest()
        content_type = "image/jpeg" if kind == "snapshot" else "video/mp4"
        size = 90_000 if kind == "snapshot" else 2_400_000
        rows.tables["event_media"].append(
            (self._ids.media, self._ids.event, sha256, kind, content_type, size, None)
        )
        rows.tables["media"].append((sha256, content_type, size, at, f"device:{device_id}"))

    def _audit(
        self, rows: _Rows, ticket_id: int, path: tuple[Action, ...], steps: list[datetime], department: str
    ) -> None:
        previous: Status | None = None
        for action, at in zip(path, steps, strict=True):
            target = _TARGETS[action]
            self._ids.audit += 1
            actor, role = _ACTORS[action]
            rows.tables["audit_log"].append(
                (
                    self._ids.audit,
                    ticket_id,
                    at,
                    actor.format(department=department),
                    role,
                    action.value,
                    None if previous is None else previous.value,
                    target.value,
                    None,
                )
            )
            previous = target

    def _flush(self, rows: _Rows) -> None:
        with self._engine.begin() as connection:
            for name, table_rows in rows.tables.items():
                if connection.dialect.name == "postgresql":
                    _copy(connection, name, table_rows)
                else:
                    columns = COLUMNS[name]
                    connection.execute(
                        sa.insert(_TABLES[name]), [dict(zip(columns, r, strict=True)) for r in table_rows]
                    )

    def _finish(self) -> None:
        """Let the sequences continue after the chosen ids, and give the planner fresh statistics."""
        if self._engine.dialect.name != "postgresql":
            with self._engine.begin() as connection:
                connection.execute(sa.text("ANALYZE"))
            return
        with self._engine.begin() as connection:
            for table, column in _SEQUENCES.items():
                connection.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                        f"(SELECT coalesce(max({column}), 1) FROM {table}))"
                    )
                )
        with self._engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))


_TARGETS = {
    Action.open: Status.new,
    Action.dispatch: Status.dispatched,
    Action.accept: Status.accepted,
    Action.start: Status.in_progress,
    Action.resolve: Status.resolved,
    Action.close: Status.closed,
    Action.reject: Status.rejected,
    Action.mark_duplicate: Status.duplicate,
    Action.reopen: Status.reopened,
}
_ACTORS = {
    Action.open: ("device:box", "device"),
    Action.dispatch: ("operator-1", "operator"),
    Action.accept: ("{department}-staff", "department"),
    Action.start: ("{department}-staff", "department"),
    Action.resolve: ("{department}-staff", "department"),
    Action.close: ("operator-1", "operator"),
    Action.reject: ("operator-1", "operator"),
    Action.mark_duplicate: ("operator-1", "operator"),
    Action.reopen: ("operator-2", "operator"),
}


def _status_for(rnd: random.Random, age: timedelta) -> Status:
    """Old tickets are nearly all finished; the last days' tickets are mostly still open."""
    finished_share = min(0.995, age / timedelta(days=3))
    mix = _FINISHED_MIX if rnd.random() < finished_share else _OPEN_MIX
    return rnd.choices([s for s, _ in mix], weights=[w for _, w in mix])[0]


def _step_times(rnd: random.Random, opened: datetime, steps: int, age: timedelta) -> list[datetime]:
    """When each step was taken: spread over at most the ticket's age, in order."""
    span = min(age, timedelta(days=4)).total_seconds()
    offsets = sorted(rnd.uniform(0, span) for _ in range(steps - 1))
    return [opened] + [opened + timedelta(seconds=s) for s in offsets]


def _time_of(path: tuple[Action, ...], steps: list[datetime], *actions: Action) -> datetime | None:
    return next((at for action, at in zip(path, steps, strict=True) if action in actions), None)


def _copy(connection: sa.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    """``COPY ... FROM STDIN`` through psycopg; the JSON column goes as text."""
    raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"COPY needs psycopg's connection, not {type(raw).__name__}")
    columns = COLUMNS[table]
    json_at = columns.index("details") if "details" in columns else None
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            if json_at is not None:
                row = (*row[:json_at], json.dumps(row[json_at]), *row[json_at + 1 :])
            copy.write_row(row)


def count_tickets(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(sa.select(sa.func.count()).select_from(Ticket)) or 0
