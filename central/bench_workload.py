"""What the simulated edges of ``gridwatch-central bench-ingest`` send: whole episodes of a city's mix.

Each edge has four cameras on two sites, two zones a camera; its episodes (a start, one to four
updates, an end) follow each other one to eight simulated minutes apart at a random camera and zone, mostly
illegal parking (merged by zone), some dust and illegal building (merged by site), so repeats inside
the merge window join open tickets at about the rate they do in the field. Every event names one to
three pieces of evidence. Payloads are built before the clock starts, so building them is not measured.
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contract.event import Event
from contract.topics import Topics

START = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)
CAMERAS = 4
ZONES = 2
TYPES = (("illegal_parking", 0.8), ("dust", 0.15), ("illegal_building", 0.05))
DISTRICTS = ("chongchuan", "gangzha", "haimen", "tongzhou")
SCHEMA = "gridwatch.event/1"


@dataclass(frozen=True)
class Outgoing:
    """One event ready to publish by its edge."""

    edge: int
    event_id: uuid.UUID
    topic: str
    payload: bytes


def device_of(edge: int) -> str:
    return f"bench-edge-{edge:05d}"


def workload(events: int, edges: int, topics: Topics, seed: int = 8) -> list[Outgoing]:
    """``events`` events from ``edges`` edges, interleaved round-robin as edges send concurrently."""
    rng = random.Random(seed)
    per_edge = [
        _edge_events(edge, events // edges + (edge < events % edges), topics, rng) for edge in range(edges)
    ]
    interleaved: list[Outgoing] = []
    for i in range(max(len(e) for e in per_edge)):
        interleaved.extend(e[i] for e in per_edge if i < len(e))
    return interleaved


@dataclass(frozen=True)
class _Episode:
    device: str
    event_type: str
    camera: int
    zone: int
    at: datetime
    details: dict[str, str]


def _edge_events(edge: int, count: int, topics: Topics, rng: random.Random) -> list[Outgoing]:
    device = device_of(edge)
    out: list[Outgoing] = []
    at = START + timedelta(seconds=rng.uniform(0, 600))
    while len(out) < count:
        camera = rng.randrange(CAMERAS)
        episode = _Episode(
            device=device,
            event_type=rng.choices([t for t, _ in TYPES], [w for _, w in TYPES])[0],
            camera=camera,
            zone=rng.randrange(ZONES),
            at=at,
            details={
                "episode_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "district": DISTRICTS[edge % len(DISTRICTS)],
                "site": f"site-{camera % 2}",
                "camera_name": f"Bench camera {camera}",
            },
        )
        phases = ["start"] + ["update"] * rng.randint(1, 4) + ["end"]
        for step, phase in enumerate(phases[: count - len(out)]):
            event = _event(episode, phase, step, rng)
            out.append(Outgoing(edge, event["event_id"], topics.events(device), _encode(event)))
        at += timedelta(minutes=rng.uniform(1, 8))
    return out


def _event(episode: _Episode, phase: str, step: int, rng: random.Random) -> dict[str, Any]:
    observed = episode.at + timedelta(seconds=30 * step)
    return {
        "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
        "phase": phase,
        "type": episode.event_type,
        "device_id": episode.device,
        "camera_id": f"{episode.device}-cam-{episode.camera}",
        "zone_id": f"zone-{episode.zone}",
        "started_at": episode.at,
        "observed_at": observed,
        "ended_at": observed if phase == "end" else None,
        "confidence": round(rng.uniform(0.5, 0.99), 3),
        "details": episode.details,
        "media": [_media(rng, i) for i in range(rng.randint(1, 3))],
    }


def _encode(event: dict[str, Any]) -> bytes:
    return json.dumps({"schema": SCHEMA, **event}, default=_plain, separators=(",", ":")).encode()


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def check(sample: list[Outgoing]) -> None:
    """The contract accepts what the workload builds (it is built without the contract's models, for speed)."""
    for outgoing in sample:
        Event.model_validate_json(outgoing.payload)


def _media(rng: random.Random, index: int) -> dict[str, object]:
    clip = index == 2
    return {
        "kind": "clip" if clip else "snapshot",
        "sha256": f"{rng.getrandbits(256):064x}",
        "bytes": rng.randrange(2_000_000, 8_000_000) if clip else rng.randrange(40_000, 400_000),
        "content_type": "video/mp4" if clip else "image/jpeg",
        "label": "clip" if clip else f"snapshot {index + 1}",
    }
