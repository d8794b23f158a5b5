"""The ``gridwatch-central`` command: create-token, and serve as a real process with MQTT and HTTP."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from central.auth import Role, authenticate
from central.cli import main
from central.db import make_engine, session_factory
from contract.event import MediaKind, MediaRef
from tests.central.conftest import bearer
from tests.central.factories import event
from tests.central.serving import Served, serve
from tests.central.waiting import wait_until


def create_token(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["create-token", *args])
    lines = capsys.readouterr().out.strip().splitlines()
    return code, lines[-1] if lines else ""


def test_create_token_prints_a_working_token_on_its_last_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, token = create_token(
        capsys,
        "--db",
        database_url,
        "--role",
        "department",
        "--department",
        "cg-gangzha",
        "--name",
        "Gangzha desk",
        "--config",
        "central.example.yaml",
    )
    assert code == 0
    assert token.startswith("gw_")
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            principal = authenticate(session, token)
    finally:
        engine.dispose()
    assert principal is not None
    assert (principal.name, principal.role, principal.department) == (
        "Gangzha desk",
        Role.department,
        "cg-gangzha",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--role", "department"],
        ["--role", "admin", "--department", "cg-gangzha"],
        ["--role", "department", "--department", "nobody", "--config", "central.example.yaml"],
    ],
)
def test_create_token_refuses_a_department_that_does_not_fit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, last = create_token(capsys, "--data-dir", str(tmp_path), *args)
    assert code == 2
    assert not last.startswith("gw_")


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    with serve(database_url, tmp_path) as running:
        yield running


def test_serve_turns_an_mqtt_event_and_its_upload_into_a_ticket(served: Served) -> None:
    base, topics, tokens = served.base, served.topics, served.tokens
    snapshot = b"\xff\xd8\xff\xe0 a jpeg's first bytes \xff\xd9"
    sha = hashlib.sha256(snapshot).hexdigest()
    upload = httpx.put(
        f"{base}/api/v1/media/{sha}",
        content=snapshot,
        headers={**bearer(tokens["device"]), "Content-Type": "image/jpeg"},
    )
    assert upload.status_code == 201
    e = event(
        media=[MediaRef(kind=MediaKind.snapshot, sha256=sha, bytes=len(snapshot), content_type="image/jpeg")],
        district="gangzha",
    )
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    publisher.publish(topics.events(e.device_id), e.to_json(), qos=1).wait_for_publish(10)
    publisher.disconnect()
    publisher.loop_stop()
    admin = bearer(tokens["admin"])

    def tickets() -> list[dict[str, object]]:
        return httpx.get(f"{base}/api/v1/tickets", headers=admin).json()["items"]  # type: ignore[no-any-return]  # httpx types JSON as Any

    assert wait_until(lambda: len(tickets()) == 1, 15)
    detail = httpx.get(f"{base}/api/v1/tickets/{tickets()[0]['id']}", headers=admin).json()
    assert detail["department"] == "cg-gangzha"
    [media] = detail["events"][0]["media"]
    assert httpx.get(base + media["url"], headers=admin).content == snapshot
