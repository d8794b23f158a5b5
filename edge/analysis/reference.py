"""The approved reference image of one zone, kept on disk so that it survives a restart.

Which image is the reference, and since when, is the evidence an operator needs to judge
a building event; so it is stored beside the image (``reference.json``) and logged on every
load and approval. The building rule only reads it; the pipeline writes it (``edge/rules/bound.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import structlog

from edge.capture.frames import Frame

IMAGE = "reference.png"
META = "reference.json"


@dataclass(frozen=True)
class Reference:
    """One zone's reference, kept on disk as a PNG (lossless) and its metadata."""

    frame: Frame
    approved_by: str
    """``first check`` (taken by the rule itself) or whoever re-approved it, e.g. ``operator``."""

    @property
    def since(self) -> str:
        return datetime.fromtimestamp(self.frame.ts, UTC).isoformat()

    @classmethod
    def read(cls, folder: Path | None, log: structlog.typing.FilteringBoundLogger) -> Reference | None:
        """The reference kept in ``folder``; None when there is none (or no folder), or it is unreadable."""
        if folder is None or not (folder / META).exists():
            return None
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
            image = cv2.imread(str(folder / IMAGE), cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f"cannot read {folder / IMAGE}")
            reference = cls(Frame(image, float(meta["ts"])), str(meta["approved_by"]))
        except (OSError, ValueError, KeyError) as err:
            log.error(
                "building reference unreadable; a new one will be taken", folder=str(folder), error=str(err)
            )
            return None
        log.info(
            "building reference loaded",
            path=str(folder / IMAGE),
            since=reference.since,
            approved_by=reference.approved_by,
        )
        return reference

    def write(self, folder: Path) -> None:
        """Write image then metadata, each by an atomic rename, so a crash never leaves half a reference."""
        folder.mkdir(parents=True, exist_ok=True)
        ok, png = cv2.imencode(".png", self.frame.image)
        if not ok:
            raise RuntimeError(f"PNG encoding failed for the reference in {folder}")
        _write_atomic(folder / IMAGE, png.tobytes())
        meta = {"ts": self.frame.ts, "since": self.since, "approved_by": self.approved_by}
        _write_atomic(folder / META, json.dumps(meta, indent=2).encode())


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
