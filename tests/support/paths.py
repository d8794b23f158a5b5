"""Where the shared sample footage and detector weights live (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("GRIDWATCH_SHARED", ROOT.parent / "shared")).resolve()
MEDIA = SHARED / "media"
MODEL = SHARED / "models" / "yolo11n_int8_openvino_model"
PARKING_ROW = MEDIA / "parking_row.mp4"
HIGHWAY = MEDIA / "highway.mp4"
