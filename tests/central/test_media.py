"""Evidence upload and download: hash-checked PUT by devices, ranged GET by people."""

from __future__ import annotations

import hashlib
import os

import pytest
from fastapi.testclient import TestClient

from central.app import create_app
from central.auth import Role, create_token
from central.services import Services
from contract.event import MediaKind, MediaRef
from contract.topics import Topics
from tests.central.conftest import bearer
from tests.central.factories import event

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
BODY = MP4_HEAD + os.urandom(300_000 - len(MP4_HEAD))
SHA = hashlib.sha256(BODY).hexdigest()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(20_000)
JPEG_SHA = hashlib.sha256(JPEG).hexdigest()
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(5_000)


def put(client: TestClient, token: str, body: bytes = BODY, sha: str = SHA, kind: str = "video/mp4") -> int:
    headers = {**bearer(token), "Content-Type": kind}
    return client.put(f"/api/v1/media/{sha}", content=body, headers=headers).status_code


def stored_files(services: Services) -> list[str]:
    root = services.config.media_dir
    return [name for _, _, names in os.walk(root) for name in names]


def test_a_body_that_does_not_match_its_hash_is_refused_and_not_kept(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    assert put(client, tokens["device"], body=BODY[:-1]) == 400
    assert stored_files(services) == []
    assert client.get(f"/api/v1/media/{SHA}", headers=bearer(tokens["admin"])).status_code == 404


def test_uploads_are_stored_once_and_repeats_are_harmless(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    assert put(client, tokens["device"]) == 201
    assert put(client, tokens["device"]) == 200
    assert stored_files(services) == [SHA]
    response = client.get(f"/api/v1/media/{SHA}", headers=bearer(tokens["operator"]))
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["content-type"] == "video/mp4"
    assert response.headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-1999", 1000, 2000),
        ("bytes=299000-", 299_000, 300_000),
        ("bytes=-500", 299_500, 300_000),
        ("bytes=299990-400000", 299_990, 300_000),
    ],
)
def test_a_range_gets_206_and_exactly_those_bytes(
    client: TestClient, tokens: dict[str, str], header: str, start: int, end: int
) -> None:
    put(client, tokens["device"])
    response = client.get(f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), "Range": header})
    assert response.status_code == 206
    assert response.content == BODY[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(BODY)}"
    assert response.headers["content-length"] == str(end - start)


def test_a_range_past_the_end_is_416(client: TestClient, tokens: dict[str, str]) -> None:
    put(client, tokens["device"])
    response = client.get(
        f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), "Range": "bytes=400000-"}
    )
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(BODY)}"


@pytest.mark.parametrize(("who", "code"), [("operator", 403), ("cg-chongchuan", 403), (None, 401)])
def test_only_devices_and_admins_upload(
    client: TestClient, services: Services, tokens: dict[str, str], who: str | None, code: int
) -> None:
    headers = {**(bearer(tokens[who]) if who else {}), "Content-Type": "video/mp4"}
    assert client.put(f"/api/v1/media/{SHA}", content=BODY, headers=headers).status_code == code
    assert stored_files(services) == []


def test_only_jpeg_and_mp4_are_accepted(client: TestClient, tokens: dict[str, str]) -> None:
    assert put(client, tokens["device"], kind="text/html") == 415


def device_token(services: Services, device_id: str) -> str:
    """A device's token is named after its device id: that is how an upload is tied to the device."""
    with services.sessions.begin() as session:
        return create_token(session, services.clock, Role.device, device_id)


def file_event(services: Services, device: str, camera: str, district: str, sha: str = JPEG_SHA) -> None:
    ref = MediaRef(
        kind=MediaKind.snapshot, sha256=sha, bytes=len(JPEG), content_type="image/jpeg", label="arrival"
    )
    e = event(device=device, camera=camera, media=[ref], district=district)
    assert services.intake.event(Topics().events(e.device_id), e.to_json().encode()).value == "stored"


def test_department_staff_get_only_their_own_tickets_evidence(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    assert put(client, device_token(services, "box-1"), body=JPEG, sha=JPEG_SHA, kind="image/jpeg") == 201
    file_event(services, "box-1", "cam-1", "chongchuan")
    url = f"/api/v1/media/{JPEG_SHA}"
    assert client.get(url, headers=bearer(tokens["cg-chongchuan"])).status_code == 200
    assert client.get(url, headers=bearer(tokens["cg-gangzha"])).status_code == 403
    assert client.get(url, headers=bearer(tokens["device"])).status_code == 403
    detail = client.get("/api/v1/tickets/1", headers=bearer(tokens["cg-chongchuan"])).json()
    [media] = detail["events"][0]["media"]
    assert (media["url"], media["stored"], media["label"]) == (url, True, "arrival")


def test_an_upload_over_the_size_limit_is_413_and_not_kept(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    """The body limit (built with the app, before authentication) refuses it and the store keeps nothing."""
    services.config = services.config.model_copy(
        update={"media": services.config.media.model_copy(update={"max_mb": 0.1})}
    )
    with TestClient(create_app(services)) as limited:
        assert put(limited, tokens["device"]) == 413
    assert stored_files(services) == []


def test_an_event_cannot_borrow_evidence_that_another_device_uploaded(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    assert put(client, device_token(services, "box-1"), body=JPEG, sha=JPEG_SHA, kind="image/jpeg") == 201
    file_event(services, "box-2", "cam-2", "gangzha")  # box-2 names box-1's snapshot in its own event
    url = f"/api/v1/media/{JPEG_SHA}"
    assert client.get(url, headers=bearer(tokens["cg-gangzha"])).status_code == 403
    file_event(services, "box-1", "cam-1", "chongchuan")
    assert client.get(url, headers=bearer(tokens["cg-chongchuan"])).status_code == 200
    assert client.get(url, headers=bearer(tokens["cg-gangzha"])).status_code == 403


def test_a_device_ties_a_stored_file_to_itself_only_by_sending_its_bytes(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    box_2 = device_token(services, "box-2")
    assert put(client, device_token(services, "box-1"), body=JPEG, sha=JPEG_SHA, kind="image/jpeg") == 201
    file_event(services, "box-2", "cam-2", "gangzha")
    assert put(client, box_2, body=JPEG[:-1] + b"?", sha=JPEG_SHA, kind="image/jpeg") == 400
    assert client.get(f"/api/v1/media/{JPEG_SHA}", headers=bearer(tokens["cg-gangzha"])).status_code == 403
    assert put(client, box_2, body=JPEG, sha=JPEG_SHA, kind="image/jpeg") == 200, (
        "the same bytes: already stored"
    )
    assert client.get(f"/api/v1/media/{JPEG_SHA}", headers=bearer(tokens["cg-gangzha"])).status_code == 200
    assert stored_files(services) == [JPEG_SHA]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-" + "9" * 5000, 0, 300_000),
        ("bytes=-" + "9" * 5000, 0, 300_000),
        ("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9", 5, 10),
    ],
)
def test_a_range_with_thousands_of_digits_is_read_as_the_number_it_is(
    client: TestClient, tokens: dict[str, str], header: str, start: int, end: int
) -> None:
    put(client, tokens["device"])
    response = client.get(f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), "Range": header})
    assert response.status_code == 206
    assert response.content == BODY[start:end]


def test_a_range_starting_thousands_of_digits_in_is_416(client: TestClient, tokens: dict[str, str]) -> None:
    put(client, tokens["device"])
    response = client.get(
        f"/api/v1/media/{SHA}", headers={**bearer(tokens["admin"]), "Range": "bytes=" + "9" * 5000 + "-"}
    )
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(BODY)}"


@pytest.mark.parametrize(
    ("body", "declared"),
    [
        (b"<!doctype html><script>alert(document.cookie)</script>", "image/jpeg"),
        (b"<html><body>hi</body></html>", "video/mp4"),
        (BODY[:2000], "image/jpeg"),
        (JPEG[:2000], "video/mp4"),
        (PNG, "image/jpeg"),
        (b"", "image/jpeg"),
        (b"\xff\xd8", "image/jpeg"),
    ],
)
def test_a_body_that_is_not_what_its_content_type_says_is_415_and_not_kept(
    client: TestClient, services: Services, tokens: dict[str, str], body: bytes, declared: str
) -> None:
    sha = hashlib.sha256(body).hexdigest()
    assert put(client, tokens["device"], body=body, sha=sha, kind=declared) == 415
    assert stored_files(services) == []
    assert client.get(f"/api/v1/media/{sha}", headers=bearer(tokens["admin"])).status_code == 404


@pytest.mark.parametrize(("body", "kind"), [(JPEG, "image/jpeg"), (PNG, "image/png"), (BODY, "video/mp4")])
def test_media_is_served_as_the_type_its_bytes_are_and_never_sniffed(
    client: TestClient, tokens: dict[str, str], body: bytes, kind: str
) -> None:
    sha = hashlib.sha256(body).hexdigest()
    chunks = [body[i : i + 1] for i in range(16)] + [body[16:]]  # the type is known only after several chunks
    upload = client.put(
        f"/api/v1/media/{sha}",
        content=iter(chunks),
        headers={**bearer(tokens["device"]), "Content-Type": kind},
    )
    assert upload.status_code == 201
    for extra in ({}, {"Range": "bytes=0-9"}):
        response = client.get(f"/api/v1/media/{sha}", headers={**bearer(tokens["admin"]), **extra})
        assert response.status_code in (200, 206)
        assert response.headers["content-type"] == kind
        assert response.headers["x-content-type-options"] == "nosniff"
