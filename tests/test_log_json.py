"""``--log-json`` writes JSON and nothing else, for both services run as real commands, third-party
libraries' lines included (uvicorn and its access log, alembic, paho, PyAV/FFmpeg, aiortc); and
secrets never reach the log, whoever logs them (Open311's ``?api_key=`` in the access log)."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from contract.logs import configure_logging
from tests.support.net import free_port
from tests.support.paths import PARKING_ROW
from tests.support.rtsp import RtspServer
from tests.support.stack import BIN, CentralProcess, EdgeProcess, camera, wait_until


def json_lines(text: str, what: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object; fails on the first line that is not one."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise AssertionError(f"{what}, line {number} is not JSON: {line[:300]!r}") from err
        assert isinstance(record, dict), line
        assert "event" in record, line
        assert "level" in record, line
        records.append(record)
    return records


def test_central_commands_log_only_json_and_no_secrets(tmp_path: Path) -> None:
    central = CentralProcess(tmp_path).start()
    admin = central.tokens["admin"]
    try:
        listed = httpx.get(f"{central.base_url}/open311/v2/requests.json?api_key={admin}", timeout=10)
        assert listed.status_code == 200
        httpx.post(
            f"{central.base_url}/api/v1/auth/login",
            timeout=10,
            json={"username": "someone", "password": "hunter2-secret"},
        )
        httpx.get(f"{central.base_url}/api/v1/tickets?token={admin}", timeout=10)
    finally:
        central.stop()
    text = central.log_path.read_text()
    records = json_lines(text, "gridwatch-central --log-json serve")
    assert admin not in text
    assert admin.removeprefix("gw_") not in text
    assert "hunter2-secret" not in text
    access = [r["event"] for r in records if r.get("logger") == "uvicorn.access"]
    assert any("/open311/v2/requests.json?api_key=[redacted]" in line for line in access), access
    assert any("/api/v1/tickets?token=[redacted]" in line for line in access), access
    loggers = {r.get("logger") for r in records}
    assert {"uvicorn.error", "uvicorn.access", "alembic.runtime.migration"} <= loggers, loggers

    made = subprocess.run(
        [
            str(BIN / "gridwatch-central"),
            "--log-json",
            "create-token",
            "--config",
            str(central.config_path),
            "--role",
            "operator",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    [token] = made.stdout.splitlines()
    assert token.startswith("gw_")
    assert token not in made.stderr
    assert any("shown once" in r["event"] for r in json_lines(made.stderr, "create-token"))
    refused = subprocess.run(
        [
            str(BIN / "gridwatch-central"),
            "--log-json",
            "create-token",
            "--config",
            str(central.config_path),
            "--role",
            "department",
            "--department",
            "nowhere",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert json_lines(refused.stderr, "a refused create-token")


def test_the_edge_logs_only_json_with_a_live_and_a_dead_camera(tmp_path: Path) -> None:
    rtsp = RtspServer({"parking": PARKING_ROW}).start()
    central = CentralProcess(tmp_path).start()
    dead = f"rtsp://127.0.0.1:{free_port()}/nothing"
    edge = EdgeProcess(
        tmp_path, central, "json-box", [camera("parking", rtsp.url("parking")), camera("dead", dead)]
    )
    try:
        edge.start(streaming=["parking"])
        wait_until(
            lambda: any(r.get("camera") == "dead" for r in edge.records()), 30, "the dead camera to be logged"
        )
    finally:
        edge.stop()
        central.stop()
        rtsp.stop()
    records = json_lines(edge.log_path.read_text(), "gridwatch-edge --log-json run")
    assert len(records) > 5
    assert central.tokens["json-box"] not in edge.log_path.read_text(), "the edge's own token is never logged"


def test_structured_fields_and_library_messages_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", json=True)
    structlog.get_logger("test").info(
        "login",
        password="hunter2-secret",
        token="gw_abcdefghijklmnop",
        url="/open311/v2/requests.json?service_code=dust&api_key=k3y-secret",
    )
    logging.getLogger("some.library").warning(
        "sent Authorization: Bearer gws_sessionsecret123 to %s", "http://x/?password=pa55-secret&x=1"
    )
    records = json_lines(capsys.readouterr().err, "redaction")
    text = json.dumps(records)
    for secret in ("hunter2-secret", "abcdefghijklmnop", "k3y-secret", "sessionsecret123", "pa55-secret"):
        assert secret not in text
    assert records[0]["url"] == "/open311/v2/requests.json?service_code=dust&api_key=[redacted]"
    assert records[1]["logger"] == "some.library"
    assert "x=1" in records[1]["event"]


def test_edge_configuration_errors_are_json_too(tmp_path: Path) -> None:
    """A broken file's problems, and an unknown ``--camera``, come out as records naming file, place and reason."""
    broken = tmp_path / "edge.yaml"
    broken.write_text(
        "device_id: box-1\ncameras: [{id: cam-1, source: rtsp://x, zones: [{id: z, polygon: [[0, 0]]}]}]\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(BIN / "gridwatch-edge"), "--log-json", "run", "--config", str(broken)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    records = json_lines(done.stderr, "gridwatch-edge --log-json run with a broken file")
    assert done.returncode == 2
    assert {"file": str(broken), "place": "cameras[0].zones[0].polygon"}.items() <= records[0].items()
    good = tmp_path / "good.yaml"
    good.write_text(
        "device_id: box-1\ncameras: [{id: cam-1, source: rtsp://x, zones: [{id: z, polygon: "
        "[[0, 0], [1, 0], [1, 1]], rules: {illegal_parking: {}}}]}]\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [
            str(BIN / "gridwatch-edge"),
            "--log-json",
            "analyze",
            "--config",
            str(good),
            "--camera",
            "cam-9",
            "--source",
            "x.mp4",
            "--events-out",
            str(tmp_path / "e.jsonl"),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    [record] = json_lines(done.stderr, "gridwatch-edge --log-json analyze --camera unknown")
    assert done.returncode == 2
    assert record["place"] == "--camera"
    assert "cam-9" in record["reason"]
