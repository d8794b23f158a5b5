"""How much CPU the edge spends per second of video, each decoding policy side by side, against
Ultralytics' own every-frame loop.

    .venv/bin/python -m benchmarks.analysis_cost [--video PATH] [--model PATH] [--cameras N] [--out FILE.json]

Every case is ``gridwatch-edge bench`` (edge/commands/bench.py) on the same recording, in this one
process, one after the other, so the ratios hold on a shared, noisy machine even where the absolute
seconds do not. The camera has parking, dust and building rules at their defaults over the lower half
of the frame. Prints one table, a column per case, and writes JSON (default bench-results/analysis_cost.json).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from contract.logs import configure_logging
from edge.commands.bench import BenchRequest, bench, default_config, run_baseline, table

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GRIDWATCH_SHARED", ROOT.parent / "shared"))

CASES: list[tuple[str, dict[str, Any]]] = [
    ("every frame decoded", {"reader": {"keyframes_only": False}, "change": {"enabled": False}}),
    ("keyframes + max_gap_s", {"change": {"enabled": False}}),
    ("+ change gate (default)", {}),
]
"""Column header, and the camera's settings for that case (each change after the one before)."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=SHARED / "media" / "highway.mp4")
    parser.add_argument("--model", type=Path, default=SHARED / "models" / "yolo11n_int8_openvino_model")
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument(
        "--no-baseline", action="store_true", help="leave out Ultralytics' loop (minutes at 1080p)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "analysis_cost.json")
    args = parser.parse_args()
    configure_logging("warning")
    reports = []
    for _, settings in CASES:
        config = default_config(str(args.model))
        camera = config.cameras[0]
        camera.reader = camera.reader.model_copy(update=settings.get("reader", {}))
        camera.change = camera.change.model_copy(update=settings.get("change", {}))
        reports.append(bench(config, BenchRequest(source=str(args.video), cameras=args.cameras)))
    if not args.no_baseline:
        config = default_config(str(args.model))
        baseline = run_baseline(config, config.cameras[0], str(args.video))
        cost = round(baseline.cpu_s / reports[0]["video_s"], 4)
        for report in reports:
            report.update(
                baseline_cpu_s_per_video_s=cost,
                baseline_starts=baseline.starts,
                ratio=round(cost / report["cpu_s_per_video_s"], 1),
            )
    print(table(reports, [name for name, _ in CASES]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cases = [{"case": name, **report} for (name, _), report in zip(CASES, reports, strict=True)]
    args.out.write_text(json.dumps({"video": str(args.video), "cases": cases}, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
