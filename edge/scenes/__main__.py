"""``python -m edge.scenes --out DIR``: build the labelled evaluation suite from the shared footage.

Then: ``gridwatch-edge eval --labels DIR/labels.yaml --report DIR/report``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from contract.logs import configure_logging
from edge.scenes.suite import SCENES, build

DEFAULT_SHARED = Path(os.environ.get("GRIDWATCH_SHARED", "../shared"))
DETECTOR = Path("models") / "yolo11n_int8_openvino_model"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m edge.scenes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the suite is written")
    parser.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        metavar="DIR",
        help="the shared folder with media/ (and models/); default $GRIDWATCH_SHARED or ../shared",
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="detector for the suite's edge.yaml (default: the shared OpenVINO weights, else yolo11n.pt)",
    )
    parser.add_argument(
        "--only", metavar="PREFIX", help="only scenes whose id starts with PREFIX (dust, building, parking)"
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    shared = args.shared.resolve()
    model = args.model or (str(shared / DETECTOR) if (shared / DETECTOR).exists() else "yolo11n.pt")
    try:
        labels = build(
            args.out.resolve(),
            shared / "media",
            model,
            only=lambda scene: args.only is None or scene.id.startswith(args.only),
        )
    except FileNotFoundError as err:
        print(f"python -m edge.scenes: {err}", file=sys.stderr)
        return 2
    count = sum(1 for scene in SCENES if args.only is None or scene.id.startswith(args.only))
    print(
        f"{count} scenes and their labels in {args.out}; evaluate with:\n"
        f"  gridwatch-edge eval --labels {labels} --report {args.out / 'report'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
