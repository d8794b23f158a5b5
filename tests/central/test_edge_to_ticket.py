"""End to end: the real edge's ``analyze --publish`` on parking_row.mp4, through Mosquitto and the
media endpoint, into a served central that opens tickets whose evidence downloads intact."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from contract.event import Event
from tests.central.conftest import bearer
from tests.central.serving import Served, serve
from tests.central.waiting import wait_until
from tests.support.paths import PARKING_ROW, ROOT

EDGE = Path(sys.executable).parent / "gridwatch-edge"
PARKED_ROW = [[0.0, 0.62], [0.78, 0.62], [0.78, 0.92], [0.0, 0.92]]
"""The row of parked cars in parking_row.mp4."""
TIME_LAPSE_PARKING = {"dwell_s": 2, "grace_s": 2, "min_similarity": -1, "min_presence": 0}
"""The footage is a rainy time-lapse: short dwell, appearance and presence checks off (as the edge tests do)."""


def edge_config(folder: Path, served: Served, model_path: Path) -> Path:
    config = {
        "device_id": "e2e-box",
        "mqtt": {"url": "mqtt://127.0.0.1:1883", "topic_prefix": served.topic_prefix},
        "central": {"url": served.base, "token": served.tokens["device"]},
        "model": {"path": str(model_path)},
        "storage": {"dir": str(folder / "edge-state")},
        "evidence": {"pre_s": 1, "post_s": 1},
        "cameras": [
            {
                "id": "parking",
                "name": "Site road parking row",
                "district": "chongchuan",
                "source": "unused",
                "analysis_fps": 5,
                "zones": [
                    {"id": "row", "polygon": PARKED_ROW, "rules": {"illegal_parking": TIME_LAPSE_PARKING}}
                ],
            }
        ],
    }
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_edge(config: Path, events_out: Path) -> list[Event]:
    result = subprocess.run(
        [
            str(EDGE),
            "analyze",
            "--config",
            str(config),
            "--camera",
            "parking",
            "--source",
            str(PARKING_ROW),
            "--events-out",
            str(events_out),
            "--publish",
            "--drain-timeout",
            "120",
            "--no-progress",
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [Event.from_json(line) for line in events_out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_edge_events_become_tickets_with_evidence_that_matches_its_hashes(
    database_url: str, tmp_path: Path, model_path: Path
) -> None:
    with serve(database_url, tmp_path / "central", device_id="e2e-box") as served:
        events = run_edge(edge_config(tmp_path, served, model_path), tmp_path / "events.jsonl")
        assert any(e.phase.value == "start" for e in events), "the footage gives at least one parking start"
        admin = bearer(served.tokens["admin"])

        def tickets() -> list[dict[str, Any]]:
            page = httpx.get(f"{served.base}/api/v1/tickets", params={"limit": 500}, headers=admin).json()
            return [
                httpx.get(f"{served.base}/api/v1/tickets/{t['id']}", headers=admin).json()
                for t in page["items"]
            ]

        def stored_ids() -> set[str]:
            return {e["event_id"] for t in tickets() for e in t["events"]}

        produced = {str(e.event_id) for e in events}
        assert wait_until(lambda: stored_ids() >= produced, 30), "every published event is on a ticket"
        found = tickets()
        assert all(t["department"] == "cg-chongchuan" and t["status"] == "new" for t in found)
        assert len(found) <= sum(e.phase.value == "start" for e in events)
        checked = 0
        for ticket in found:
            for event in ticket["events"]:
                for media in event["media"]:
                    response = httpx.get(served.base + media["url"], headers=admin)
                    assert response.status_code == 200, media
                    assert hashlib.sha256(response.content).hexdigest() == media["sha256"]
                    assert len(response.content) == media["bytes"]
                    assert response.headers["content-type"] == media["content_type"]
                    checked += 1
        kinds = {m["kind"] for t in found for e in t["events"] for m in e["media"]}
        assert kinds == {"snapshot", "clip"}, json.dumps(found)[:2000]
        assert checked >= 2, json.dumps(found)[:2000]
