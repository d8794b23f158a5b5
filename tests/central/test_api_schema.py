"""Schemathesis against ``/openapi.json`` with an admin token: no input makes the service answer 5xx.

The schema is read once from an app on a throwaway SQLite file; each generated case then runs
against the test's own app (SQLite and PostgreSQL). The example budget is small on purpose.
(``schemathesis.pytest.from_fixture`` would be the natural loader, but it fails on pytest 9.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from central.app import create_app
from central.services import build_services
from tests.central.conftest import bearer, central_config

if TYPE_CHECKING:
    from schemathesis.specs.openapi.schemas import OpenApiCase


def _openapi() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        config = central_config(f"sqlite:///{scratch}/schema.db", Path(scratch))
        services = build_services(config, with_ingest=False)
        try:
            return create_app(services).openapi()
        finally:
            services.close()


schemathesis.serializer.alias("video/mp4", "application/octet-stream")  # clip uploads are raw bytes
schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_no_input_causes_a_server_error(
    case: OpenApiCase, client: TestClient, tokens: dict[str, str]
) -> None:
    case.call_and_validate(app=client.app, headers=bearer(tokens["admin"]), checks=[not_a_server_error])
