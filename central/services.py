"""The parts of a running central service, built once and shared by the API and ingest.

Everything a central process runs beside its requests is built here and started and stopped
by the app's one lifespan: MQTT ingest, the RPC client that asks edges for live view, snapshots
and reference approvals, and the ticket change feed behind the console's stream. Routers reach
them through ``ServicesDep``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from central.changes import ChangeFeed
from central.clock import Clock, SystemClock
from central.config import CentralConfig
from central.db import make_engine, session_factory
from central.ingest import Intake
from central.ingest_mqtt import MqttIngest
from central.media import MediaStore, media_store
from central.retention import RetentionTask, retention_task
from central.routing import Router
from central.rpc import RpcClient
from central.tickets import TicketDesk
from contract.topics import Topics


@dataclass
class Services:
    config: CentralConfig
    engine: sa.Engine
    sessions: sessionmaker[Session]
    clock: Clock
    router: Router
    desk: TicketDesk
    media: MediaStore
    intake: Intake
    rpc: RpcClient
    changes: ChangeFeed
    ingest: MqttIngest | None = None
    departments: frozenset[str] = field(default_factory=frozenset)
    retention: RetentionTask | None = None
    """Purges expired evidence periodically; None when ``retention.evidence_days`` keeps it forever."""

    def start(self) -> None:
        """Connect to the broker: ingest, where this process runs it, and the RPC client. The change
        feed needs no start: it polls only while someone listens."""
        if self.ingest is not None:
            self.ingest.start()
        self.rpc.start()
        if self.retention is not None:
            self.retention.start()

    async def stop(self) -> None:
        """Stop what runs beside the requests, the change feed's poller first (it may be running)."""
        await self.changes.stop()
        if self.retention is not None:
            await self.retention.stop()
        self.rpc.stop()
        if self.ingest is not None:
            self.ingest.stop()

    def close(self) -> None:
        """Release database connections, once the app has stopped."""
        self.engine.dispose()


def build_services(config: CentralConfig, clock: Clock | None = None, with_ingest: bool = True) -> Services:
    """Wire the parts from configuration; the database must already be migrated. Nothing connects
    to the broker before ``Services.start``."""

    clock = clock or SystemClock()
    engine = make_engine(config.database_url)
    sessions = session_factory(engine)
    router = Router(config)
    desk = TicketDesk(router, timedelta(minutes=config.tickets.merge_window_minutes))
    media = media_store(config)
    intake = Intake(sessions, desk, clock, Topics(config.mqtt.topic_prefix), config.mqtt.max_payload_bytes)
    return Services(
        config=config,
        engine=engine,
        sessions=sessions,
        clock=clock,
        router=router,
        desk=desk,
        media=media,
        intake=intake,
        rpc=RpcClient(config.mqtt, config.live.rpc_timeout_s),
        changes=ChangeFeed(sessions),
        ingest=MqttIngest(config.mqtt, intake) if with_ingest else None,
        departments=frozenset(d.id for d in config.departments),
        retention=retention_task(sessions, media, config.retention, clock),
    )
