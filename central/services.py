"""The parts of a running central service, built once and shared by the API and ingest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from central.clock import Clock, SystemClock
from central.config import CentralConfig
from central.db import make_engine, session_factory
from central.ingest import Intake, MqttIngest
from central.media import MediaStore, media_store
from central.routing import Router
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
    ingest: MqttIngest | None = None
    departments: frozenset[str] = field(default_factory=frozenset)

    def close(self) -> None:
        """Release database connections (ingest is stopped by the app's lifespan, which started it)."""
        self.engine.dispose()


def build_services(config: CentralConfig, clock: Clock | None = None, with_ingest: bool = True) -> Services:
    """Wire the parts from configuration; the database must already be migrated."""
    clock = clock or SystemClock()
    engine = make_engine(config.database_url)
    sessions = session_factory(engine)
    router = Router(config)
    desk = TicketDesk(router, timedelta(minutes=config.tickets.merge_window_minutes))
    intake = Intake(sessions, desk, clock, Topics(config.mqtt.topic_prefix), config.mqtt.max_payload_bytes)
    return Services(
        config=config,
        engine=engine,
        sessions=sessions,
        clock=clock,
        router=router,
        desk=desk,
        media=media_store(config),
        intake=intake,
        ingest=MqttIngest(config.mqtt, intake) if with_ingest else None,
        departments=frozenset(d.id for d in config.departments),
    )
