"""Evidence upload and download: hash-checked PUT by devices, ranged GET by people."""

from __future__ import annotations

import hashlib
import os

import pytest
from fastapi.testclient import TestClient

from central.services import Services
from contract.event import MediaRef
from contract.topics import Topics
from tests.central.conftest import bearer
from tests.central.factories import event

BODY = os.urandom(300_000)
SHA = hashlib.sha256(BODY).hexdigest()


def put(client: TestClient, token: str, body: bytes = BODY, sha: str = SHA, kind: str = "video/mp4") -> int:
    headers = {**bearer(token), "Content-Type": kind}
    return client.put(f"/api/v1/media/{sha}", content=body, headers=headers).status_code


def stored_files(services: Services) -> list[str]:
    root = services.config.media_dir
    return [name for _, _, names in os.walk(root) for name in names]


def test_a_body_that_does_not_match_its_hash_is_refused_and_not_kept(client: TestClient, services: Services,
                                                                   tokens: dict[str, str]) -> None:
    assert put(client, tokens["device"], body=BODY[:-1]) == 400
    assert stored_files(services) == []
    assert client.get(f"/api/v1/media/{SHA}", headers=bearer(tokens["admin"])).status_code == 404


def test_uploads_are_stored_once_and_repeats_are_harmless(client: TestClient, services: Services,
                                                         tokens: dict[str, str]) -> None:
    assert put(client, tokens["device"]) == 201
    assert put(client, tokens["device"]) == 200
    assert stored_files(services) == [SHA]
    response = client.get(f"/api/v1/media/{SHA}", headers=bearer(tokens["operator"]))
    assert response.status_code == 200 and response.content == BODY
    assert response.headers["content-type"] == "video/mp4" and response.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-99", 0, 100), ("bytes=1000-1999", 1000, 2000), ("bytes=299000-", 299_000, 300_000),
    ("bytes=-500", 299_500, 300_000), ("bytes=299990-400000", 299_990, 300_000)])
def test_a_range_gets_206_and_exactly_those_bytes(client: TestClient, tokens: dict[str, str], header: str,
                                                  start: int, end: int) -> None:
    put(client, tokens["device"])
    response = client.get(f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), "Range": header})
    assert response.status_code == 206
    assert response.content == BODY[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(BODY)}"
    assert response.headers["content-length"] == str(end - start)


def test_a_range_past_the_end_is_416(client: TestClient, tokens: dict[str, str]) -> None:
    put(client, tokens["device"])
    response = client.get(f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), "Range": "bytes=400000-"})
    assert response.status_code == 416 and response.headers["content-range"] == f"bytes */{len(BODY)}"


@pytest.mark.parametrize(("who", "code"), [("operator", 403), ("cg-chongchuan", 403), (None, 401)])
def test_only_devices_and_admins_upload(client: TestClient, services: Services, tokens: dict[str, str],
                                        who: str | None, code: int) -> None:
    headers = {**(bearer(tokens[who]) if who else {}), "Content-Type": "video/mp4"}
    assert client.put(f"/api/v1/media/{SHA}", content=BODY, headers=headers).status_code == code
    assert stored_files(services) == []


def test_only_jpeg_and_mp4_are_accepted(client: TestClient, tokens: dict[str, str]) -> None:
    assert put(client, tokens["device"], kind="text/html") == 415


def test_department_staff_get_only_their_own_tickets_evidence(client: TestClient, services: Services,
                                                              tokens: dict[str, str]) -> None:
    put(client, tokens["device"], kind="image/jpeg")
    ref = MediaRef(kind="snapshot", sha256=SHA, bytes=len(BODY), content_type="image/jpeg", label="arrival")
    e = event(media=[ref], district="chongchuan")
    services.intake.event(Topics().events(e.device_id), e.to_json().encode())
    url = f"/api/v1/media/{SHA}"
    assert client.get(url, headers=bearer(tokens["cg-chongchuan"])).status_code == 200
    assert client.get(url, headers=bearer(tokens["cg-gangzha"])).status_code == 403
    assert client.get(url, headers=bearer(tokens["device"])).status_code == 403
    detail = client.get("/api/v1/tickets/1", headers=bearer(tokens["cg-chongchuan"])).json()
    [media] = detail["events"][0]["media"]
    assert (media["url"], media["stored"], media["label"]) == (url, True, "arrival")


def test_an_upload_over_the_size_limit_is_413_and_not_kept(client: TestClient, services: Services,
                                                          tokens: dict[str, str]) -> None:
    services.config = services.config.model_copy(update={"media": services.config.media.model_copy(
        update={"max_mb": 0.1})})
    assert put(client, tokens["device"]) == 413
    assert stored_files(services) == []
