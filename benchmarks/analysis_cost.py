"""How much CPU the edge spends per second of video, against Ultralytics' own every-frame loop.

    .venv/bin/python -m benchmarks.analysis_cost [--video PATH] [--model PATH] [--out FILE.json]

Both run in this one process, one after the other, on the same recording, so the
ratio holds on a shared, noisy machine even where the absolute seconds do not. Each
case includes loading its model; Python imports and a warm-up run come before any case.
Prints a table and writes JSON (default bench-results/analysis_cost.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NotRequired, TypedDict

import yaml

from contract.logs import configure_logging
from edge.commands.analyze import AnalyzeRequest, analyze, duration_of
from edge.config import load_config

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GRIDWATCH_SHARED", ROOT.parent / "shared"))


class Row(TypedDict):
    """One case of the table and of the JSON; ``vs_ultralytics`` is added once the baseline is known."""

    case: str
    cpu_s: float
    wall_s: float
    cpu_s_per_video_s: float
    vs_ultralytics: NotRequired[float]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(run: Callable[[], None]) -> tuple[float, float]:
    cpu, wall = _cpu(), time.monotonic()
    run()
    return _cpu() - cpu, time.monotonic() - wall


def _edge_config(folder: Path, model: Path, analysis_fps: float, keyframes_only: bool) -> Path:
    config = {
        "device_id": "bench",
        "central": {"url": None},
        "model": {"path": str(model)},
        "storage": {"dir": str(folder / "state")},
        "cameras": [
            {
                "id": "cam",
                "source": "unused",
                "analysis_fps": analysis_fps,
                "reader": {"keyframes_only": keyframes_only},
                "zones": [
                    {
                        "id": "lanes",
                        "polygon": [[0, 0.45], [1, 0.45], [1, 1], [0, 1]],
                        "rules": {"illegal_parking": {}},
                    }
                ],
            }
        ],
    }
    path = folder / f"edge-{analysis_fps}-{keyframes_only}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _edge(
    video: Path, model: Path, folder: Path, analysis_fps: float, keyframes_only: bool
) -> Callable[[], None]:
    config = load_config(_edge_config(folder, model, analysis_fps, keyframes_only))
    request = AnalyzeRequest(
        camera_id="cam",
        source=str(video),
        events_out=folder / "events.jsonl",
        media_dir=folder / "media",
        progress=False,
    )

    def run() -> None:
        analyze(config, request)

    return run


def _ultralytics(video: Path, model: Path) -> Callable[[], None]:
    def run() -> None:
        from ultralytics.models import YOLO

        for _ in YOLO(str(model), task="detect").track(
            source=str(video), stream=True, verbose=False, tracker="botsort.yaml"
        ):
            pass

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=SHARED / "media" / "highway.mp4")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolo11n_int8_openvino_model")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "analysis_cost.json")
    args = parser.parse_args()
    configure_logging("warning")
    import ultralytics.trackers.track  # noqa: F401  one-time imports (torch et al.) are no case's cost

    seconds = duration_of(str(args.video)) or 0.0
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as folder:
        cases = [
            ("edge analyze, 1 frame/s (default)", _edge(args.video, args.model, Path(folder), 1.0, False)),
            ("edge analyze, keyframes only", _edge(args.video, args.model, Path(folder), 1.0, True)),
            ("edge analyze, 5 frames/s", _edge(args.video, args.model, Path(folder), 5.0, False)),
            ("ultralytics model.track, every frame", _ultralytics(args.video, args.model)),
        ]
        cases[1][1]()  # warm-up: OpenVINO's first compile and the first decoder are no case's cost
        for name, run in cases:
            cpu, wall = _measure(run)
            rows.append(
                {
                    "case": name,
                    "cpu_s": round(cpu, 2),
                    "wall_s": round(wall, 2),
                    "cpu_s_per_video_s": round(cpu / seconds, 3),
                }
            )
    baseline = rows[-1]["cpu_s_per_video_s"]
    for row in rows:
        row["vs_ultralytics"] = round(row["cpu_s_per_video_s"] / baseline, 3)
    print(f"{args.video.name}: {seconds:.1f} s of video, {os.cpu_count()} CPUs\n")
    print(f"{'case':40} {'CPU s':>8} {'wall s':>8} {'CPU s / video s':>16} {'x baseline':>11}")
    for row in rows:
        print(
            f"{row['case']:40} {row['cpu_s']:>8} {row['wall_s']:>8} {row['cpu_s_per_video_s']:>16} "
            f"{row['vs_ultralytics']:>11}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"video": str(args.video), "video_s": seconds, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
