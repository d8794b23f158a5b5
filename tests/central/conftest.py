"""Central fixtures: every database test runs on SQLite and on the machine's PostgreSQL.

PostgreSQL tests each get a fresh schema in the shared ``test`` database (``search_path`` set
through the URL), so parallel runs and other engineers' runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from central.app import create_app
from central.auth import Role, create_token
from central.bench_parts import database
from central.clock import FrozenClock
from central.config import CentralConfig, parse_config
from central.db import migrate
from central.services import Services, build_services
from tests.support.paths import ROOT

POSTGRES = os.environ.get("GRIDWATCH_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
EXAMPLE = ROOT / "central.example.yaml"
START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'central.db'}"
        return
    with database(POSTGRES, tmp_path) as url:  # a schema of its own, dropped after
        yield url


def central_config(database_url: str, tmp_path: Path, **overrides: Any) -> CentralConfig:
    """The example configuration on this test's database, data dir and MQTT identity."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    unique = uuid.uuid4().hex[:10]
    data["database"] = {"url": database_url}
    data["data_dir"] = str(tmp_path / "central")
    data["mqtt"] = {
        **data["mqtt"],
        "group": f"test-{unique}",
        "client_id": f"central-test-{unique}",
        "session_expiry_s": 0,
    }
    for dotted, value in overrides.items():
        target = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return parse_config(data, "test")


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> CentralConfig:
    return central_config(database_url, tmp_path)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def services(config: CentralConfig, clock: FrozenClock) -> Iterator[Services]:
    """Migrated services without MQTT ingest (the ingest tests start their own)."""
    built = build_services(config, clock, with_ingest=False)
    migrate(built.engine)
    yield built
    built.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as test_client:
        yield test_client


TOKEN_HOLDERS = {
    "admin": (Role.admin, None),
    "operator": (Role.operator, None),
    "cg-chongchuan": (Role.department, "cg-chongchuan"),
    "cg-gangzha": (Role.department, "cg-gangzha"),
    "env-chongchuan": (Role.department, "env-chongchuan"),
    "device": (Role.device, None),
}


@pytest.fixture
def tokens(services: Services) -> dict[str, str]:
    """One token per holder above, named after its holder (the name shows up in audit entries)."""
    with services.sessions.begin() as session:
        return {
            name: create_token(session, services.clock, role, name, department)
            for name, (role, department) in TOKEN_HOLDERS.items()
        }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bearer_only(token: str) -> dict[str, str]:
    """``bearer`` with an empty Cookie header, which keeps the client's login cookie off this request:
    the way to test the token alone (per-request ``cookies={}`` is merged into, not instead of, the
    client's, and httpx deprecates it)."""
    return {**bearer(token), "Cookie": ""}
