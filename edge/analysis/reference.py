"""The approved reference image of one zone, kept on disk so that it survives a restart.

Which image is the reference, and since when, is the evidence an operator needs to judge
a building event; so it is stored beside the image (``reference.json``) and logged on every
load and approval.
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
    frame: Frame
    approved_by: str
    """``first check`` (taken by the rule itself) or whoever re-approved it, e.g. ``operator``."""

    @property
    def since(self) -> str:
        return datetime.fromtimestamp(self.frame.ts, UTC).isoformat()


class ReferenceStore:
    """One zone's reference on disk (PNG, lossless) or, with no folder, in memory only."""

    def __init__(self, folder: Path | None, log: structlog.typing.FilteringBoundLogger) -> None:
        self._folder = folder
        self._log = log

    def load(self) -> Reference | None:
        if self._folder is None or not (self._folder / META).exists():
            return None
        try:
            meta = json.loads((self._folder / META).read_text(encoding="utf-8"))
            image = cv2.imread(str(self._folder / IMAGE), cv2.IMREAD_COLOR)
            if image is None:
                raise OSError(f"cannot read {self._folder / IMAGE}")
            reference = Reference(Frame(image, float(meta["ts"])), str(meta["approved_by"]))
        except (OSError, ValueError, KeyError) as err:
            self._log.error(
                "building reference unreadable; a new one will be taken",
                folder=str(self._folder),
                error=str(err),
            )
            return None
        self._log.info(
            "building reference loaded",
            path=str(self._folder / IMAGE),
            since=reference.since,
            approved_by=reference.approved_by,
        )
        return reference

    def save(self, reference: Reference) -> None:
        """Write image then metadata, each by an atomic rename, so a crash never leaves half a reference."""
        path = self._folder / IMAGE if self._folder else None
        if self._folder is not None:
            self._folder.mkdir(parents=True, exist_ok=True)
            ok, png = cv2.imencode(".png", reference.frame.image)
            if not ok:
                raise RuntimeError(f"PNG encoding failed for the reference in {self._folder}")
            _write_atomic(self._folder / IMAGE, png.tobytes())
            meta = {"ts": reference.frame.ts, "since": reference.since, "approved_by": reference.approved_by}
            _write_atomic(self._folder / META, json.dumps(meta, indent=2).encode())
        self._log.info(
            "building reference approved",
            path=str(path) if path else "(memory only)",
            since=reference.since,
            approved_by=reference.approved_by,
        )


def _write_atomic(path: Path, data: bytes) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
