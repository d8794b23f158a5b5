"""The ``gridwatch-central`` command: create-token, and serve as a real process with MQTT and HTTP."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from central.auth import Role, authenticate
from central.cli import main
from central.db import make_engine, session_factory
from contract.event import MediaRef
from contract.topics import Topics
from tests.central.conftest import bearer
from tests.central.factories import event
from tests.central.waiting import wait_until
from tests.support.net import free_port

CENTRAL = Path(sys.executable).parent / "gridwatch-central"


def create_token(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["create-token", *args])
    lines = capsys.readouterr().out.strip().splitlines()
    return code, lines[-1] if lines else ""


def test_create_token_prints_a_working_token_on_its_last_line(database_url: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, token = create_token(capsys, "--db", database_url, "--role", "department", "--department",
                               "cg-gangzha", "--name", "Gangzha desk", "--config", "central.example.yaml")
    assert code == 0 and token.startswith("gw_")
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            principal = authenticate(session, token)
    finally:
        engine.dispose()
    assert principal is not None
    assert (principal.name, principal.role, principal.department) == ("Gangzha desk", Role.department, "cg-gangzha")


@pytest.mark.parametrize("args", [["--role", "department"], ["--role", "admin", "--department", "cg-gangzha"],
                                  ["--role", "department", "--department", "nobody", "--config",
                                   "central.example.yaml"]])
def test_create_token_refuses_a_department_that_does_not_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             args: list[str]) -> None:
    code, last = create_token(capsys, "--data-dir", str(tmp_path), *args)
    assert code == 2 and not last.startswith("gw_")


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Topics, dict[str, str]]]:
    """``gridwatch-central serve`` in its own process; flags override the file's port, database and data dir."""
    unique = uuid.uuid4().hex[:8]
    config = yaml.safe_load(Path("central.example.yaml").read_text(encoding="utf-8"))
    config["mqtt"].update({"topic_prefix": f"t-{unique}/gridwatch/v1", "group": f"g-{unique}",
                           "client_id": f"central-{unique}", "session_expiry_s": 0})
    config["http"]["port"] = 1  # overridden by --port below
    path = tmp_path / "central.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    common = ["--config", str(path), "--db", database_url, "--data-dir", str(tmp_path / "data")]
    tokens = {role: subprocess.run([str(CENTRAL), "create-token", "--role", role, *common], check=True,
                                   capture_output=True, text=True).stdout.strip().splitlines()[-1]
              for role in ("admin", "device")}
    port = free_port()
    process = subprocess.Popen([str(CENTRAL), "serve", *common, "--port", str(port)], stderr=subprocess.PIPE,
                               text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: _subscribed(base), 30), "serve did not come up"
        yield base, Topics(config["mqtt"]["topic_prefix"]), tokens
    finally:
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=30)
        assert process.returncode in (0, -signal.SIGTERM), log  # uvicorn re-raises the signal once shut down
        assert "ingest stopped" in log


def _subscribed(base: str) -> bool:
    try:
        return bool(httpx.get(f"{base}/healthz", timeout=2).json()["ingest_subscribed"])
    except httpx.HTTPError:
        return False


def test_serve_turns_an_mqtt_event_and_its_upload_into_a_ticket(
        served: tuple[str, Topics, dict[str, str]]) -> None:
    base, topics, tokens = served
    snapshot = b"\xff\xd8 not really a jpeg \xff\xd9"
    sha = hashlib.sha256(snapshot).hexdigest()
    upload = httpx.put(f"{base}/api/v1/media/{sha}", content=snapshot,
                       headers={**bearer(tokens["device"]), "Content-Type": "image/jpeg"})
    assert upload.status_code == 201
    e = event(media=[MediaRef(kind="snapshot", sha256=sha, bytes=len(snapshot), content_type="image/jpeg")],
              district="gangzha")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    publisher.publish(topics.events(e.device_id), e.to_json(), qos=1).wait_for_publish(10)
    publisher.disconnect()
    publisher.loop_stop()
    admin = bearer(tokens["admin"])

    def tickets() -> list[dict[str, object]]:
        return httpx.get(f"{base}/api/v1/tickets", headers=admin).json()["items"]  # type: ignore[no-any-return]

    assert wait_until(lambda: len(tickets()) == 1, 15)
    detail = httpx.get(f"{base}/api/v1/tickets/{tickets()[0]['id']}", headers=admin).json()
    assert detail["department"] == "cg-gangzha"
    [media] = detail["events"][0]["media"]
    assert httpx.get(base + media["url"], headers=admin).content == snapshot
