"""``gridwatch-central bench-ingest`` end to end on a few events: its own broker, a central process,
every event stored once, and the JSON the issue asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from central.cli import main

KEYS = {"events_per_s", "p50_ms", "p95_ms", "p99_ms", "lost", "duplicated", "tickets", "db", "replicas"}


@pytest.mark.slow
@pytest.mark.parametrize("backlog", [False, True])
def test_bench_ingest_stores_every_event_once_and_writes_its_figures(tmp_path: Path, backlog: bool) -> None:
    out = tmp_path / "ingest.json"
    flags = ["--backlog"] if backlog else []
    assert (
        main(
            [
                "--log-level",
                "warning",
                "bench-ingest",
                "--events",
                "300",
                "--publishers",
                "3",
                *flags,
                "--json",
                str(out),
            ]
        )
        == 0
    )
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures.keys() >= KEYS
    assert (figures["lost"], figures["duplicated"], figures["db"], figures["replicas"]) == (0, 0, "sqlite", 1)
    assert 0 < figures["tickets"] < 300
    assert (figures["drain_s"] is not None) == backlog
