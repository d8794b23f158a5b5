"""Evidence in an S3-compatible bucket, against a real server (JuiceFS's S3 gateway): two replicas
share one bucket and one database, each with its own local folder, as behind a load balancer."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi.testclient import TestClient

from central.app import create_app
from central.auth import Role, create_token
from central.clock import FrozenClock
from central.config import CentralConfig, load_config, with_overrides
from central.db import migrate
from central.media.s3 import s3_client
from central.services import Services, build_services
from contract.event import MediaKind, MediaRef
from contract.topics import Topics
from contract.validation import ConfigError
from edge.config import CentralConfig as EdgeCentralConfig
from edge.delivery.uploader import MediaSkipped, Uploader
from edge.evidence.store import MediaStore as EdgeMediaStore
from tests.central.conftest import bearer, central_config
from tests.central.factories import event
from tests.central.serving import running
from tests.support.s3 import SECRET_KEY, S3Gateway

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
BODY = MP4_HEAD + os.urandom(700_000 - len(MP4_HEAD))
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Gateway]:
    """One server for the module (it takes seconds to start); each test has its own key prefix."""
    with S3Gateway(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def bucket(gateway: S3Gateway) -> dict[str, Any]:
    """This test's ``media.s3`` section; a server an earlier test left stopped is started again."""
    if not gateway.running:
        gateway.start()
    return gateway.settings(prefix=f"t-{uuid.uuid4().hex[:10]}/")


def s3_config(database_url: str, folder: Path, bucket: dict[str, Any]) -> CentralConfig:
    return central_config(database_url, folder, **{"media.backend": "s3", "media.s3": bucket})


@pytest.fixture
def replicas(
    database_url: str, tmp_path: Path, bucket: dict[str, Any], clock: FrozenClock
) -> Iterator[tuple[Services, Services]]:
    """Replica A and replica B: one database, one bucket, a local folder each."""
    a = build_services(s3_config(database_url, tmp_path / "a", bucket), clock, with_ingest=False)
    b = build_services(s3_config(database_url, tmp_path / "b", bucket), clock, with_ingest=False)
    migrate(a.engine)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def clients(replicas: tuple[Services, Services]) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(replicas[0])) as a, TestClient(create_app(replicas[1])) as b:
        yield a, b


@pytest.fixture
def tokens(replicas: tuple[Services, Services]) -> dict[str, str]:
    services = replicas[0]
    with services.sessions.begin() as session:
        return {
            "admin": create_token(session, services.clock, Role.admin, "admin"),
            "device": create_token(session, services.clock, Role.device, "box-1"),
        }


def put(client: TestClient, token: str, body: bytes = BODY, sha: str = SHA) -> Any:
    """The response (Starlette's TestClient answers with its own httpx's type)."""
    headers = {**bearer(token), "Content-Type": "video/mp4"}
    return client.put(f"/api/v1/media/{sha}", content=body, headers=headers)


def bucket_keys(services: Services) -> list[str]:
    """The keys under this test's prefix, read from the server with a client of the test's own."""
    settings = services.config.media.s3
    assert settings is not None
    listing = s3_client(settings).list_objects_v2(Bucket=settings.bucket, Prefix=settings.prefix)
    return [item["Key"].removeprefix(settings.prefix) for item in listing.get("Contents", [])]


def local_files(services: Services) -> list[str]:
    return [name for _, _, names in os.walk(services.config.media_dir) for name in names]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        (None, 0, len(BODY)),
        ("bytes=0-99", 0, 100),
        ("bytes=300000-599999", 300_000, 600_000),
        ("bytes=-500", len(BODY) - 500, len(BODY)),
        ("bytes=699990-800000", 699_990, len(BODY)),
    ],
)
def test_evidence_uploaded_through_one_replica_is_served_with_range_by_the_other(
    replicas: tuple[Services, Services],
    clients: tuple[TestClient, TestClient],
    tokens: dict[str, str],
    header: str | None,
    start: int,
    end: int,
) -> None:
    a, b = clients
    assert put(a, tokens["device"]).status_code == 201
    assert put(b, tokens["device"]).status_code == 200, "replica B sees what replica A stored"
    response = b.get(
        f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), **({"Range": header} if header else {})}
    )
    assert response.status_code == (206 if header else 200)
    assert response.content == BODY[start:end]
    assert response.headers["content-length"] == str(end - start)
    assert response.headers["content-type"] == "video/mp4"
    if header:
        assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(BODY)}"
    assert bucket_keys(replicas[0]) == [f"{SHA[:2]}/{SHA[2:4]}/{SHA}"]
    assert local_files(replicas[0]) == local_files(replicas[1]) == [], "nothing stays on a replica's disk"


def test_the_stored_object_is_exactly_the_uploaded_bytes(
    replicas: tuple[Services, Services], clients: tuple[TestClient, TestClient], tokens: dict[str, str]
) -> None:
    assert put(clients[0], tokens["device"]).status_code == 201
    with replicas[1].media.open(SHA) as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == SHA


def test_a_body_that_does_not_match_its_hash_is_refused_and_never_reaches_the_bucket(
    replicas: tuple[Services, Services], clients: tuple[TestClient, TestClient], tokens: dict[str, str]
) -> None:
    a, b = clients
    response = put(a, tokens["device"], body=BODY[:-1] + b"?")
    assert response.status_code == 400
    assert "SHA-256" in response.json()["detail"]
    assert bucket_keys(replicas[0]) == []
    assert local_files(replicas[0]) == []
    assert b.get(f"/api/v1/media/{SHA}", headers=bearer(tokens["admin"])).status_code == 404


def test_an_unreachable_bucket_gives_a_clear_503_on_download_until_it_is_back(
    gateway: S3Gateway, clients: tuple[TestClient, TestClient], tokens: dict[str, str]
) -> None:
    a, b = clients
    assert put(a, tokens["device"]).status_code == 201
    gateway.stop()
    for extra in ({}, {"Range": "bytes=0-99"}):
        response = b.get(f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), **extra})
        assert response.status_code == 503
        assert response.json()["detail"] == "the media store is unavailable; try again later"
        assert response.headers["retry-after"] == "5"
    gateway.start()
    response = b.get(f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), "Range": "bytes=0-99"})
    assert (response.status_code, response.content) == (206, BODY[:100])


def test_an_upload_while_the_bucket_is_unreachable_is_503_and_the_edge_retries_it(
    tmp_path: Path,
    gateway: S3Gateway,
    replicas: tuple[Services, Services],
    clients: tuple[TestClient, TestClient],
    tokens: dict[str, str],
) -> None:
    edge_store = EdgeMediaStore(tmp_path / "edge-media", max_bytes=10_000_000)
    ref = edge_store.put_bytes(BODY, MediaKind.clip, "video/mp4")
    gateway.stop()
    with running(replicas[0]) as base:
        uploader = Uploader(EdgeCentralConfig(url=base, token=tokens["device"]), edge_store)
        try:
            with pytest.raises(httpx.HTTPStatusError) as refused:
                uploader.upload([ref])  # a retryable failure: the event stays in the outbox
            assert refused.value.response.status_code == 503
            assert not isinstance(refused.value, MediaSkipped)
            gateway.start()
            uploader.upload([ref])
        finally:
            uploader.close()
    response = clients[1].get(f"/api/v1/media/{SHA}", headers=bearer(tokens["admin"]))
    assert (response.status_code, response.content) == (200, BODY)


def media_section(**s3: Any) -> dict[str, Any]:
    return {"media": {"backend": "s3", "s3": s3}}


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"media": {"backend": "s3"}}, "backend s3 needs an s3 section"),
        (media_section(bucket="evidence", access_key="k"), "access_key and secret_key go together"),
        (media_section(bucket="Evidence"), "media.s3.bucket"),
        (media_section(bucket="evidence", endpoint="127.0.0.1:9000"), "media.s3.endpoint"),
        ({"media": {"backend": "gcs"}}, "media.backend"),
    ],
)
def test_s3_settings_are_checked(tmp_path: Path, data: dict[str, Any], problem: str) -> None:
    path = tmp_path / "central.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_the_secret_key_is_never_shown(tmp_path: Path, bucket: dict[str, Any]) -> None:
    config = s3_config("sqlite://", tmp_path, bucket)
    overridden = with_overrides(config, {"http.port": 9000})
    assert overridden.media.s3 is not None
    assert overridden.media.s3.secret_key is not None
    assert overridden.media.s3.secret_key.get_secret_value() == SECRET_KEY, "kept across overrides"
    for shown in (repr(config), str(config), config.model_dump_json()):
        assert SECRET_KEY not in shown


def test_a_ticket_still_opens_while_the_bucket_is_unreachable(
    gateway: S3Gateway,
    replicas: tuple[Services, Services],
    clients: tuple[TestClient, TestClient],
    tokens: dict[str, str],
) -> None:
    """Whether a piece of evidence arrived is the database's to say: asking the bucket about every piece
    would cost a request each, and an outage of the store would take the whole ticket down with it."""
    a, b = clients
    assert put(a, tokens["device"]).status_code == 201
    stored = MediaRef(
        kind=MediaKind.clip, sha256=SHA, bytes=len(BODY), content_type="video/mp4", label="clip"
    )
    missing = MediaRef(kind=MediaKind.snapshot, sha256="0" * 64, bytes=10, content_type="image/jpeg")
    e = event(device="box-1", media=[stored, missing])
    assert replicas[0].intake.event(Topics().events(e.device_id), e.to_json().encode()).value == "stored"
    gateway.stop()
    response = b.get("/api/v1/tickets/1", headers=bearer(tokens["admin"]))
    assert response.status_code == 200, response.text
    assert [(m["sha256"], m["stored"]) for m in response.json()["events"][0]["media"]] == [
        (SHA, True),
        ("0" * 64, False),
    ]
