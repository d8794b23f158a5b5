"""Turns a rule's snapshots and clip moments into stored media: drawing is here, deciding is in the rules."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from contract.event import MediaKind, MediaRef
from edge.analysis.zones import Zone
from edge.capture.packet_ring import PacketRing
from edge.evidence.store import MediaStore
from edge.rules.base import Snapshot

ZONE_COLOUR = (0, 200, 255)
BOX_COLOUR = (0, 0, 255)


def annotate(snapshot: Snapshot, zone: Zone) -> np.ndarray:
    """A copy of the frame with the zone shaded, the boxes outlined and the time stamped on it."""
    frame = snapshot.frame
    image = frame.image.copy()
    polygon = zone.pixels(frame.width, frame.height)
    shade = image.copy()
    cv2.fillPoly(shade, [polygon], ZONE_COLOUR)
    cv2.addWeighted(shade, 0.2, image, 0.8, 0, dst=image)
    cv2.polylines(image, [polygon], True, ZONE_COLOUR, 2)
    for x1, y1, x2, y2 in snapshot.boxes:
        p1 = (round(x1 * frame.width), round(y1 * frame.height))
        p2 = (round(x2 * frame.width), round(y2 * frame.height))
        cv2.rectangle(image, p1, p2, BOX_COLOUR, 2)
    stamp = f"{datetime.fromtimestamp(frame.ts, UTC):%Y-%m-%d %H:%M:%S}Z {zone.id} {snapshot.label}"
    cv2.putText(image, stamp, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, stamp, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return image


class EvidenceWriter:
    def __init__(self, store: MediaStore, jpeg_quality: int, pre_s: float, post_s: float) -> None:
        self._store = store
        self._quality = jpeg_quality
        self.pre_s = pre_s
        self.post_s = post_s

    def snapshot(self, snapshot: Snapshot, zone: Zone) -> MediaRef:
        ok, jpeg = cv2.imencode(".jpg", annotate(snapshot, zone), [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for snapshot '{snapshot.label}' of zone '{zone.id}'")
        return self._store.put_bytes(jpeg.tobytes(), MediaKind.snapshot, "image/jpeg", snapshot.label)

    def clip(self, ring: PacketRing, at: float) -> MediaRef | None:
        """The camera's own packets from ``pre_s`` before ``at`` to ``post_s`` after, remuxed, not re-encoded."""
        with tempfile.TemporaryDirectory(prefix="gridwatch-clip-") as folder:
            path = Path(folder) / "clip.mp4"
            if ring.write_clip(at - self.pre_s, at + self.post_s, path) is None:
                return None
            return self._store.put_file(path, MediaKind.clip, "video/mp4", "clip")
