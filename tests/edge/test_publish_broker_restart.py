"""``analyze --publish`` through a broker that goes down while events are being produced."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from contract.event import Event
from tests.edge.test_run_live import PARKED_ROW, TIME_LAPSE_PARKING
from tests.support.broker import Broker, Recorder
from tests.support.paths import PARKING_ROW, ROOT


def looped(source: Path, times: int, folder: Path) -> Path:
    target = folder / f"{source.stem}-x{times}.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            str(times - 1),
            "-i",
            str(source),
            "-an",
            "-c",
            "copy",
            str(target),
        ],
        check=True,
    )
    return target


@pytest.mark.slow
def test_every_event_arrives_across_a_broker_restart(tmp_path: Path, model_path: Path) -> None:
    with Broker(tmp_path) as broker:
        recorder = Recorder(broker.port, "gridwatch/v1/devices/+/events", client_id="restart-test-subscriber")
        config = {
            "device_id": "restart-box",
            "central": {"url": None},
            "mqtt": {"url": broker.url},
            "model": {"path": str(model_path)},
            "storage": {"dir": str(tmp_path / "state")},
            "evidence": {"pre_s": 1, "post_s": 1},
            "cameras": [
                {
                    "id": "parking",
                    "source": "unused",
                    "analysis_fps": 5,
                    "zones": [
                        {"id": "row", "polygon": PARKED_ROW, "rules": {"illegal_parking": TIME_LAPSE_PARKING}}
                    ],
                }
            ],
        }
        (tmp_path / "edge.yaml").write_text(yaml.safe_dump(config))
        events_out = tmp_path / "events.jsonl"
        edge = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge",
                "analyze",
                "--config",
                str(tmp_path / "edge.yaml"),
                "--camera",
                "parking",
                "--source",
                str(looped(PARKING_ROW, 8, tmp_path)),
                "--events-out",
                str(events_out),
                "--publish",
                "--drain-timeout",
                "120",
                "--no-progress",
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert recorder.wait_for(lambda messages: len(messages) >= 2, 120), "no events before the outage"
        broker.stop()
        outage = threading.Event()
        outage.wait(3.0)  # events keep being produced into the outbox meanwhile
        broker.start()
        output, _ = edge.communicate(timeout=300)
        assert edge.returncode == 0, output.decode()[-3000:]
        produced = [Event.from_json(line).event_id for line in events_out.read_text().splitlines()]
        assert len(produced) >= 6
        assert recorder.wait_for(
            lambda messages: {Event.from_json(bytes(m.payload)).event_id for m in messages} >= set(produced),
            30,
        ), "events lost across the restart"
        fresh = [Event.from_json(bytes(m.payload)).event_id for m in recorder.snapshot() if not m.dup]
        recorder.close()
    # At-least-once: a copy whose PUBACK Mosquitto dropped on shutdown is sent again (the central
    # stores by event_id, so it counts once there); anything more would be the edge re-sending.
    assert len(fresh) - len(set(fresh)) <= 2, "events were delivered twice"
