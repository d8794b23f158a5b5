"""``gridwatch-edge bench`` on real footage: N cameras through the real pipeline, and Ultralytics' loop beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edge.commands.cli import main
from tests.edge.conftest import EdgeConfigFactory
from tests.support.paths import HIGHWAY, PARKING_ROW

LOWER_HALF = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
PARKED_ROW = [[0.0, 0.62], [0.78, 0.62], [0.78, 0.92], [0.0, 0.92]]
TIME_LAPSE_PARKING = {"dwell_s": 2, "grace_s": 2, "min_similarity": -1, "min_presence": 0}
"""As in test_run_live: parking_row.mp4 is a rainy time-lapse, so the appearance and presence checks are off."""

KEYS = {
    "cpu_s_per_video_s",
    "cameras_per_box",
    "max_lag_s",
    "rss_mb_per_camera",
    "frames_decoded",
    "frames_analysed",
    "frames_skipped",
    "decode_ms_per_frame",
    "infer_ms_per_frame",
    "starts",
}


def run_bench(config: Path, source: Path, out: Path, *extra: str) -> dict[str, Any]:
    code = main(
        [
            "bench",
            "--config",
            str(config),
            "--source",
            str(source),
            "--json",
            str(out),
            "--no-progress",
            *extra,
        ]
    )
    assert code == 0
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_bench_runs_n_cameras_decoding_only_what_analysis_needs(
    tmp_path: Path, edge_config: EdgeConfigFactory, shared_media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = edge_config(LOWER_HALF, {"illegal_parking": {}, "dust": {}}, analysis_fps=1)
    report = run_bench(config, HIGHWAY, tmp_path / "bench.json", "--cameras", "2")

    assert report.keys() >= KEYS
    assert report["cameras"] == 2
    assert report["keyframes_only"] is True
    assert report["max_gap_s"] == 3.0  # dust's 30 s minimum duration, a tenth of it
    assert report["packets"] == 917
    # highway.mp4 has a keyframe every 4.27 s: all 8 are analysed, and between two the frame 3 s after the first.
    assert report["frames_analysed"] == 8 + 7
    # Each fill costs its GOP up to it (3 s at 30 fps and the keyframe); the last keyframe has no fill.
    assert report["frames_decoded"] == 7 * (90 + 1) + 1
    assert report["cpu_s_per_video_s"] > 0
    assert report["cameras_per_box"] >= 1
    assert report["starts_per_camera"] == [0, 0]
    assert "baseline_cpu_s_per_video_s" not in report
    table = capsys.readouterr().out
    assert "CPU-s per video-s per camera" in table
    assert "frames decoded" in table


@pytest.mark.slow
def test_baseline_runs_ultralytics_track_on_the_same_clip_under_the_same_rule(
    tmp_path: Path, edge_config: EdgeConfigFactory, shared_media: Path
) -> None:
    config = edge_config(PARKED_ROW, {"illegal_parking": TIME_LAPSE_PARKING})
    report = run_bench(config, PARKING_ROW, tmp_path / "bench.json", "--baseline")

    assert report["baseline_cpu_s_per_video_s"] > 0
    assert report["ratio"] == pytest.approx(
        report["baseline_cpu_s_per_video_s"] / report["cpu_s_per_video_s"], rel=0.05
    )
    assert report["starts"] >= 1, "the time-lapse's parked cars give starts (test_run_live)"
    assert report["baseline_starts"] >= 1, "and so do Ultralytics' tracks of them, under the same rule"
