"""Migration 0003 on a database that already holds data: one device per camera, evidence still visible."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from central.db import MIGRATIONS, make_engine
from central.models import Base
from tests.central.conftest import START

TABLES = Base.metadata.tables


def move_to(engine: sa.Engine, revision: str, down: bool = False) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    made = make_engine(database_url)
    yield made
    made.dispose()


def test_upgrading_keeps_one_device_per_camera_and_the_evidence_departments_saw(engine: sa.Engine) -> None:
    move_to(engine, "0002")
    camera = {"state": "streaming", "fps": 1.0, "analysis_fps": 1.0, "reconnects": 0, "updated_at": START}
    event = {
        "phase": "start",
        "type": "dust",
        "zone_id": "z",
        "started_at": START,
        "observed_at": START,
        "received_at": START,
        "confidence": 0.5,
        "details": {},
    }
    with engine.begin() as connection:
        connection.execute(
            TABLES["devices"].insert(),
            [
                {"device_id": d, "state": "online", "outbox_pending": 0, "last_seen_at": START}
                for d in ("box-1", "box-2", "box-3")
            ],
        )
        connection.execute(
            sa.table("cameras", *(sa.column(c) for c in ("device_id", "camera_id", *camera))).insert(),
            [
                {**camera, "device_id": device, "camera_id": camera_id}
                for device, camera_id in [
                    ("box-1", "cam-1"),
                    ("box-2", "cam-1"),
                    ("box-3", "cam-1"),
                    ("box-3", "cam-5"),
                    ("box-1", "cam-5"),
                    ("box-3", "cam-9"),
                ]
            ],
        )
        connection.execute(
            TABLES["events"].insert(),
            [
                {**event, "id": 1, "event_id": uuid.uuid4(), "device_id": "box-2", "camera_id": "cam-1"},
                {**event, "id": 2, "event_id": uuid.uuid4(), "device_id": "box-1", "camera_id": "cam-1"},
            ],
        )
        connection.execute(
            TABLES["media"].insert(),
            [
                {
                    "sha256": "a" * 64,
                    "content_type": "image/jpeg",
                    "bytes": 1,
                    "uploaded_at": START,
                    "uploaded_by": "device-token",
                }
            ],
        )
        connection.execute(
            TABLES["event_media"].insert(),
            [
                {
                    "event_pk": pk,
                    "sha256": "a" * 64,
                    "kind": "snapshot",
                    "content_type": "image/jpeg",
                    "bytes": 1,
                }
                for pk in (1, 2)
            ],
        )
    move_to(engine, "0003")
    with engine.connect() as connection:
        cameras = connection.execute(
            sa.select(TABLES["cameras"].c.device_id, TABLES["cameras"].c.camera_id).order_by("camera_id")
        ).all()
        uploads = connection.execute(
            sa.select(TABLES["media_uploads"].c.sha256, TABLES["media_uploads"].c.device_id).order_by(
                "device_id"
            )
        ).all()
    assert [tuple(row) for row in cameras] == [("box-2", "cam-1"), ("box-1", "cam-5"), ("box-3", "cam-9")], (
        "the device whose events named the camera first keeps it, else the first device id"
    )
    assert [tuple(row) for row in uploads] == [("a" * 64, "box-1"), ("a" * 64, "box-2")]
    move_to(engine, "0002", down=True)
    move_to(engine, "head")
