"""Review labels written by ticket actions, and ``export-dataset`` turning them into a YOLO dataset.

Clips are made in the test with PyAV from real frames of parking_row.mp4 (a few seconds at
10 fps); tickets come in through ``Intake.event``, as from MQTT, and are reviewed through the API.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient
from ultralytics.data.utils import check_det_dataset

from central.cli import main
from central.dataset import MIN_MATCH, matching_frame, yolo_line
from central.services import Services
from contract.event import MediaKind, MediaRef
from contract.topics import Topics
from tests.central.conftest import EXAMPLE, bearer
from tests.central.factories import event
from tests.support.paths import PARKING_ROW

CAR = [0.30, 0.70, 0.42, 0.86]


def clip_bytes(seconds: float = 2.0, fps: int = 10) -> bytes:
    """An H.264 MP4 of parking_row.mp4's first frames, re-timed to ``fps``."""
    out = io.BytesIO()
    with av.open(str(PARKING_ROW)) as source, av.open(out, mode="w", format="mp4") as target:
        stream = target.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 576, 320, "yuv420p"
        for i, frame in enumerate(source.decode(video=0)):
            if i >= seconds * fps:
                break
            picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            for packet in stream.encode(picture):
                target.mux(packet)
        for packet in stream.encode():
            target.mux(packet)
    return out.getvalue()


def store(services: Services, body: bytes) -> str:
    sha = hashlib.sha256(body).hexdigest()

    async def chunks() -> AsyncIterator[bytes]:
        yield body

    asyncio.run(services.media.put(sha, chunks()))
    return sha


def clip_frames(clip: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(clip), mode="r") as container:
        return [frame.to_ndarray(format="bgr24") for frame in container.decode(video=0)]


def snapshot_of(frame: np.ndarray, bbox: list[float]) -> bytes:
    """A JPEG drawn as the edge draws its snapshots: zone shaded, box outlined, time stamped."""
    image = frame.copy()
    height, width = image.shape[:2]
    shade = image.copy()
    cv2.rectangle(shade, (0, int(0.62 * height)), (int(0.78 * width), int(0.92 * height)), (0, 200, 255), -1)
    cv2.addWeighted(shade, 0.2, image, 0.8, 0, dst=image)
    x1, y1, x2, y2 = bbox
    cv2.rectangle(
        image, (int(x1 * width), int(y1 * height)), (int(x2 * width), int(y2 * height)), (0, 0, 255), 2
    )
    cv2.putText(
        image, "2026-05-01 08:00:00Z row dwell", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1
    )
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return jpeg.tobytes()


@pytest.fixture(scope="module")
def clip() -> bytes:
    return clip_bytes()


def file_ticket(
    services: Services,
    client: TestClient,
    admin: str,
    camera: str,
    clip_sha: str | None,
    snapshot_sha: str = "a" * 64,
    **details: Any,
) -> int:
    """A ticket opened by one start event with a snapshot and (unless None) a clip; returns its id."""
    media = [
        MediaRef(
            kind=MediaKind.snapshot, sha256=snapshot_sha, bytes=10, content_type="image/jpeg", label="dwell"
        )
    ]
    if clip_sha is not None:
        media.append(
            MediaRef(kind=MediaKind.clip, sha256=clip_sha, bytes=10, content_type="video/mp4", label="clip")
        )
    e = event(camera=camera, media=media, district="chongchuan", **details)
    assert (
        services.intake.event(
            Topics(services.config.mqtt.topic_prefix).events(e.device_id), e.to_json().encode()
        ).value
        == "stored"
    )
    items = client.get("/api/v1/tickets", params={"camera": camera}, headers=bearer(admin)).json()["items"]
    return int(items[0]["id"])


def act(client: TestClient, token: str, ticket_id: int, action: str, **body: Any) -> None:
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/actions", headers=bearer(token), json={"action": action, **body}
    )
    assert response.status_code == 200, response.text


def reviews(client: TestClient, token: str, ticket_id: int) -> list[dict[str, Any]]:
    return client.get(f"/api/v1/tickets/{ticket_id}/reviews", headers=bearer(token)).json()  # type: ignore[no-any-return]  # httpx types JSON as Any


def to_resolved(client: TestClient, tokens: dict[str, str], ticket_id: int) -> None:
    act(client, tokens["operator"], ticket_id, "dispatch")
    act(client, tokens["cg-chongchuan"], ticket_id, "accept")
    act(client, tokens["cg-chongchuan"], ticket_id, "start")
    act(client, tokens["cg-chongchuan"], ticket_id, "resolve", comment="towed")


def test_actions_write_review_labels_and_the_newest_is_the_verdict(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    ticket = file_ticket(services, client, tokens["admin"], "cam-a", None, label="car", bbox=CAR)
    assert reviews(client, tokens["admin"], ticket) == []
    act(client, tokens["operator"], ticket, "reject", comment="a shadow, not a car")
    act(client, tokens["admin"], ticket, "reopen", comment="it is a car after all")
    to_resolved(client, tokens, ticket)
    act(client, tokens["operator"], ticket, "close")
    labels = reviews(client, tokens["cg-chongchuan"], ticket)
    assert [(r["action"], r["verdict"], r["actor"], r["comment"]) for r in labels] == [
        ("reject", "false_alarm", "operator", "a shadow, not a car"),
        ("reopen", "withdrawn", "admin", "it is a car after all"),
        ("resolve", "confirmed", "cg-chongchuan", "towed"),
        ("close", "confirmed", "operator", None),
    ]
    twin = file_ticket(services, client, tokens["admin"], "cam-a2", None, label="car", bbox=CAR)
    act(client, tokens["operator"], twin, "mark_duplicate", duplicate_of=ticket)
    assert reviews(client, tokens["admin"], twin) == [], "a duplicate says nothing about the evidence"


def test_a_false_alarm_gets_its_cause_from_staff_only_and_only_while_it_is_the_verdict(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    ticket = file_ticket(services, client, tokens["admin"], "cam-b", None, label="car", bbox=CAR)
    act(client, tokens["operator"], ticket, "reject", comment="parked with a permit")
    label = reviews(client, tokens["operator"], ticket)[-1]
    path = f"/api/v1/tickets/{ticket}/reviews/{label['id']}"
    assert (
        client.patch(path, headers=bearer(tokens["cg-chongchuan"]), json={"cause": "other"}).status_code
        == 403
    )
    assert client.patch(path, headers=bearer(tokens["operator"]), json={"cause": "bogus"}).status_code == 422
    patched = client.patch(path, headers=bearer(tokens["operator"]), json={"cause": "not_a_violation"})
    assert patched.status_code == 200
    assert patched.json()["cause"] == "not_a_violation"
    act(client, tokens["admin"], ticket, "reopen", comment="no permit")
    assert client.patch(path, headers=bearer(tokens["operator"]), json={"cause": "other"}).status_code == 409
    assert (
        client.patch(
            f"/api/v1/tickets/{ticket}/reviews/999999",
            headers=bearer(tokens["operator"]),
            json={"cause": "other"},
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("bbox", "line"),
    [
        ([0.0, 0.0, 1.0, 1.0], "0 0.500000 0.500000 1.000000 1.000000"),
        ([0.30, 0.70, 0.42, 0.86], "0 0.360000 0.780000 0.120000 0.160000"),
    ],
)
def test_yolo_lines_are_centre_and_size(bbox: list[float], line: str) -> None:
    assert yolo_line(0, (bbox[0], bbox[1], bbox[2], bbox[3])) == line


def test_the_exported_frame_is_the_clean_clip_frame_the_snapshot_was_drawn_on(
    services: Services, clip: bytes
) -> None:
    frames = clip_frames(clip)
    clip_sha = store(services, clip)
    for index in (3, 12, len(frames) - 2):
        snapshot_sha = store(services, snapshot_of(frames[index], CAR))
        found = matching_frame(services.media, clip_sha, snapshot_sha)
        assert found is not None
        assert found[1] >= MIN_MATCH
        differences = [float(np.abs(found[0].astype(int) - f.astype(int)).mean()) for f in frames]
        assert min(differences) == 0.0, "a clean frame of the clip, not the drawn snapshot"
        assert differences[index] < 3.0, "the frame drawn on, or a neighbour that looks the same"
    unrelated = store(services, snapshot_of(np.ascontiguousarray(frames[0][::-1, ::-1]), CAR))
    unlike = matching_frame(services.media, clip_sha, unrelated)
    assert unlike is not None
    assert unlike[1] < MIN_MATCH
    assert matching_frame(services.media, store(services, b"not a video"), unrelated) is None


def test_export_writes_a_yolo_dataset_that_ultralytics_accepts(
    client: TestClient,
    services: Services,
    tokens: dict[str, str],
    clip: bytes,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sha = store(services, clip)
    shot = store(services, snapshot_of(clip_frames(clip)[10], CAR))
    confirmed = [
        file_ticket(services, client, tokens["admin"], f"cam-ok-{i}", sha, shot, label="car", bbox=CAR)
        for i in range(4)
    ]
    for ticket in confirmed:
        to_resolved(client, tokens, ticket)
    truck = file_ticket(
        services, client, tokens["admin"], "cam-truck", sha, shot, label="truck", bbox=[0.1, 0.1, 0.5, 0.6]
    )
    to_resolved(client, tokens, truck)
    causes = {"wrong_object": "cam-ghost", "not_a_violation": "cam-permit", None: "cam-unclear"}
    rejected: dict[str | None, int] = {}
    for cause, camera in causes.items():
        rejected[cause] = file_ticket(
            services, client, tokens["admin"], camera, sha, shot, label="car", bbox=CAR
        )
        act(client, tokens["operator"], rejected[cause], "reject", comment="no")
        if cause:
            label_id = reviews(client, tokens["operator"], rejected[cause])[-1]["id"]
            client.patch(
                f"/api/v1/tickets/{rejected[cause]}/reviews/{label_id}",
                headers=bearer(tokens["operator"]),
                json={"cause": cause},
            )
    no_clip = file_ticket(services, client, tokens["admin"], "cam-noclip", None, label="car", bbox=CAR)
    to_resolved(client, tokens, no_clip)
    file_ticket(services, client, tokens["admin"], "cam-unreviewed", sha, shot, label="car", bbox=CAR)
    lost = file_ticket(services, client, tokens["admin"], "cam-lost", sha, "b" * 64, label="car", bbox=CAR)
    to_resolved(client, tokens, lost)  # its snapshot never arrived: no way to find its frame

    out = tmp_path / "dataset"
    args = [
        "export-dataset",
        "--config",
        str(EXAMPLE),
        "--db",
        database_url,
        "--data-dir",
        str(services.config.data_dir),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert "export" in printed.err, "a tqdm progress bar on stderr"
    assert "image" in printed.err, "a tqdm progress bar on stderr"
    assert "data.yaml" in printed.out
    assert "1 negatives" in printed.out

    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["names"] == {0: "car", 1: "truck"}
    assert data["train"] == "images/train"
    assert data["val"] == "images/val"
    checked = check_det_dataset(str(out / "data.yaml"))
    assert checked["nc"] == 2

    with (out / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    by_ticket = {int(r["ticket_id"]): r for r in rows}
    assert set(by_ticket) == {*confirmed, truck, rejected["wrong_object"], rejected["not_a_violation"]}
    assert {r["split"] for r in rows} == {"train", "val"}
    assert all(r["split"] == by_ticket[int(r["ticket_id"])]["split"] for r in rows)
    for ticket_id, row in by_ticket.items():
        image = out / row["image"]
        labels = (out / "labels" / row["split"] / image.name).with_suffix(".txt").read_text().splitlines()
        decoded = cv2.imdecode(np.frombuffer(image.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None
        assert decoded.shape[:2] == (320, 576)
        if ticket_id == rejected["wrong_object"]:
            assert labels == [], "nothing of the class was there: a negative example"
        elif ticket_id == truck:
            assert labels == ["1 0.300000 0.350000 0.400000 0.500000"]
        else:
            assert labels == ["0 0.360000 0.780000 0.120000 0.160000"]

    assert main([*args, "--since", "2999-01-01", "--no-progress"]) == 1, "nothing reviewed since then"
    assert main([*args, "--no-progress"]) == 0, "a second export replaces the first"
    assert len(list((out / "images").rglob("*.jpg"))) == len(rows)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert main([*args[:-1], str(foreign), "--no-progress"]) == 1
    assert (foreign / "notes.txt").read_text() == "mine"


def test_with_one_reviewed_ticket_validation_uses_the_training_images(
    client: TestClient,
    services: Services,
    tokens: dict[str, str],
    clip: bytes,
    tmp_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shot = store(services, snapshot_of(clip_frames(clip)[5], CAR))
    to_resolved(
        client,
        tokens,
        file_ticket(
            services, client, tokens["admin"], "cam-one", store(services, clip), shot, label="car", bbox=CAR
        ),
    )
    out = tmp_path / "one"
    assert (
        main(
            [
                "export-dataset",
                "--config",
                str(EXAMPLE),
                "--db",
                database_url,
                "--data-dir",
                str(services.config.data_dir),
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "val is the train set" in capsys.readouterr().out
    assert yaml.safe_load((out / "data.yaml").read_text())["val"] == "images/train"
    assert check_det_dataset(str(out / "data.yaml"))["nc"] == 1
