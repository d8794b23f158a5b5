"""The parts one edge process shares across its cameras: the evidence store, the outbox and everything
that empties it (MQTT link, uploader, delivery, status).

``run`` and ``analyze --publish`` build exactly the same runtime, so a recording
exercises the delivery path that a live camera does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import structlog

from contract.event import Event
from contract.topics import Topics
from edge import __version__
from edge.config import EdgeConfig
from edge.delivery.health import CameraHealthTracker
from edge.delivery.mqtt_link import MqttLink
from edge.delivery.outbox import Outbox
from edge.delivery.sender import Delivery
from edge.delivery.status import StatusPublisher
from edge.delivery.uploader import Uploader
from edge.evidence.recorder import EvidenceWriter
from edge.evidence.store import MediaStore

log = structlog.get_logger(__name__)

MB = 1_000_000
GB = 1_000_000_000


def media_store(config: EdgeConfig, media_dir: Path | None = None) -> MediaStore:
    root = media_dir or config.storage.dir / "media"
    root.mkdir(parents=True, exist_ok=True)
    return MediaStore(root, int(config.storage.max_gb * GB), int(config.storage.min_free_mb * MB))


def evidence_writer(config: EdgeConfig, store: MediaStore) -> EvidenceWriter:
    settings = config.evidence
    return EvidenceWriter(store, settings.jpeg_quality, settings.pre_s, settings.post_s)


@dataclass
class Publishing:
    """The durable path out: events go into the outbox; delivery empties it to the broker."""

    config: EdgeConfig
    store: MediaStore
    health: list[CameraHealthTracker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.config.storage.dir.mkdir(parents=True, exist_ok=True)
        self.topics = Topics(self.config.mqtt.topic_prefix)
        self.outbox = Outbox(
            self.config.storage.dir / "outbox.sqlite3",
            reserve_bytes=int(self.config.storage.outbox_reserve_mb * MB),
            make_room=self.store.free_up,
        )
        self.link = MqttLink(self.config.mqtt, self.config.device_id)
        self.uploader = Uploader(self.config.central, self.store)
        self.delivery = Delivery(
            self.outbox, self.link, self.uploader, retry_max_s=self.config.central.retry_max_s
        )
        self.status = StatusPublisher(
            self.link,
            self.config.device_id,
            self.health,
            self.outbox,
            self.config.mqtt.status_interval_s,
            __version__,
            store=self.store,
        )

    def put(self, event: Event) -> None:
        self.outbox.put(self.topics.events(self.config.device_id), event)

    def start(self) -> None:
        pending = self.outbox.count()
        if pending:
            log.info(
                "outbox has undelivered events from before", device=self.config.device_id, pending=pending
            )
        self.link.start()
        self.delivery.start()
        self.status.start()

    def stop(self) -> None:
        self.status.stop()
        self.delivery.stop()
        self.link.stop()
        self.uploader.close()
        self.outbox.close()
