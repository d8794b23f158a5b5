"""SIGTERM right after SIGCONT, the way a service manager or ``tests/support/stack.py`` stops a process
that was frozen: the stop must never be lost, for a small program, for ``gridwatch-edge run`` and for
``gridwatch-edge analyze``.

Why it was lost: after SIGCONT the kernel often hands the SIGTERM to a thread other than the main one
(the main thread still has the continue pending). CPython then only flags the signal; its handler
runs when the main thread next executes bytecode, and a main thread blocked in ``Event.wait()`` never
does. Two to four in every six tries hung this way before ``edge.commands.stop_signals``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from functools import partial
from pathlib import Path

import pytest
import yaml

from tests.edge.test_run_live import PARKED_ROW, TIME_LAPSE_PARKING
from tests.support.paths import HIGHWAY, PARKING_ROW, ROOT
from tests.support.rtsp import RtspServer
from tests.support.stack import BIN, wait_until

EXIT_BOUND_S = 30.0
"""Far above a clean stop (a second or two); a lost SIGTERM never ends at all."""

BUSY_PROGRAM = r"""
import threading, time
from edge.commands.stop_signals import StopSignals

stop = threading.Event()

def busy() -> None:
    while not stop.is_set():
        sum(range(2000))
        time.sleep(0.0005)

with StopSignals(stop):
    for _ in range(4):
        threading.Thread(target=busy, daemon=True).start()
    print("ready", flush=True)
    stop.wait()
print("stopped", flush=True)
"""


def freeze_then_terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGSTOP, then SIGCONT and SIGTERM back to back."""
    process.send_signal(signal.SIGSTOP)
    wait_until(lambda: _state(process.pid) == "T", 5, f"process {process.pid} to stop")
    process.send_signal(signal.SIGCONT)
    process.send_signal(signal.SIGTERM)


def _state(pid: int) -> str:
    """The one-letter state from /proc (T: stopped)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_a_sigterm_right_after_sigcont_always_wakes_the_waiting_main_thread() -> None:
    """Busy threads and a main thread in ``Event.wait()``: the case that hung 6 times in 10."""
    outcomes: list[tuple[int | None, list[bytes]]] = []
    for _ in range(20):
        with subprocess.Popen(
            [sys.executable, "-c", BUSY_PROGRAM], cwd=ROOT, stdout=subprocess.PIPE
        ) as process:
            assert process.stdout is not None
            assert process.stdout.readline() == b"ready\n"
            freeze_then_terminate(process)
            try:
                outcomes.append((process.wait(timeout=10), process.stdout.read().splitlines()[-1:]))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                outcomes.append((None, [b"hung"]))
    assert outcomes == [(0, [b"stopped"])] * 20


def edge_config(
    folder: Path, device_id: str, source: str, model_path: Path, *, mqtt_url: str = "mqtt://127.0.0.1:1883"
) -> Path:
    config = {
        "device_id": device_id,
        "central": {"url": None},
        "mqtt": {"url": mqtt_url, "topic_prefix": f"gridwatch-test/{uuid.uuid4().hex[:8]}"},
        "model": {"path": str(model_path)},
        "storage": {"dir": str(folder / f"{device_id}-state")},
        "evidence": {"pre_s": 1, "post_s": 1},
        "cameras": [
            {
                "id": "cam",
                "source": source,
                "analysis_fps": 5,
                "reader": {
                    "connect_timeout_s": 3,
                    "stall_timeout_s": 3,
                    "backoff_initial_s": 0.5,
                    "backoff_max_s": 2,
                },
                "zones": [
                    {"id": "row", "polygon": PARKED_ROW, "rules": {"illegal_parking": TIME_LAPSE_PARKING}}
                ],
            }
        ],
    }
    path = folder / f"{device_id}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def camera(shared_media: Path) -> Iterator[RtspServer]:
    with RtspServer({"highway": HIGHWAY}) as server:
        yield server


def spawn(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def test_edge_run_exits_cleanly_when_sigterm_follows_sigcont(
    tmp_path: Path, camera: RtspServer, model_path: Path
) -> None:
    """Three agents at once, each streaming a real RTSP camera (threads busy with FFmpeg, detection, MQTT)."""
    edges: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for n in range(3):
        config = edge_config(tmp_path, f"sig-box-{n}", camera.url("highway"), model_path)
        log = tmp_path / f"sig-box-{n}.log"
        edges[f"sig-box-{n}"] = (
            spawn([str(BIN / "gridwatch-edge"), "--log-json", "run", "--config", str(config)], log),
            log,
        )
    try:
        for name, (process, log) in edges.items():
            wait_until(partial(_streaming, process, log), 120, f"{name} streaming")
        for process, _ in edges.values():
            freeze_then_terminate(process)
        exits = {name: _exit_code(process) for name, (process, _) in edges.items()}
        assert exits == dict.fromkeys(edges, 0), {
            name: log.read_text(errors="replace")[-2000:] for name, (_, log) in edges.items()
        }
        assert all(b'"agent stopped"' in log.read_bytes() for _, log in edges.values())
    finally:
        for process, _ in edges.values():
            if process.poll() is None:
                process.kill()
                process.wait()


def test_analyze_stops_reading_on_sigterm_and_keeps_undelivered_events(
    tmp_path: Path, model_path: Path
) -> None:
    """``analyze --publish`` of a long recording, frozen, then terminated: it stops at once, says it was
    interrupted (exit 4), and the events it found are in the events file and the outbox."""
    looped = tmp_path / "parking-x20.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-stream_loop",
            "19",
            "-i",
            str(PARKING_ROW),
            "-an",
            "-c",
            "copy",
            str(looped),
        ],
        check=True,
    )
    # No broker on port 9: every event the analysis finds stays in the outbox.
    config = edge_config(tmp_path, "sig-analyze", "unused", model_path, mqtt_url="mqtt://127.0.0.1:9")
    events_out, log = tmp_path / "events.jsonl", tmp_path / "analyze.log"
    process = spawn(
        [
            str(BIN / "gridwatch-edge"),
            "--log-json",
            "analyze",
            "--config",
            str(config),
            "--camera",
            "cam",
            "--source",
            str(looped),
            "--events-out",
            str(events_out),
            "--publish",
            "--drain-timeout",
            "600",
            "--no-progress",
        ],
        log,
    )
    try:
        wait_until(
            lambda: process.poll() is None and events_out.exists() and events_out.read_text(),
            120,
            f"analyze to find an event\n{log.read_text(errors='replace')[-3000:]}",
        )
        freeze_then_terminate(process)
        code = _exit_code(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text(errors="replace")
    assert code == 4, output[-3000:]
    assert "interrupted by SIGTERM" in output
    produced = {json.loads(line)["event_id"] for line in events_out.read_text().splitlines()}
    with closing(sqlite3.connect(tmp_path / "sig-analyze-state" / "outbox.sqlite3")) as outbox:
        kept = {event_id for (event_id,) in outbox.execute("SELECT event_id FROM outbox")}
    assert kept == produced


def _streaming(process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
    return b'"state": "streaming"' in log.read_bytes()


def _exit_code(process: subprocess.Popen[bytes]) -> int | None:
    try:
        return process.wait(timeout=EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        return None
