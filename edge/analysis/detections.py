"""The one detections type that flows detector -> tracker -> rules (parallel arrays, never tuples)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes in pixels of the analysed frame; ``tracker_id`` is -1 until a tracker assigns one, and a
    detection the tracker follows carries the tracker's box (its estimate of where the object is)."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray
    names: Mapping[int, str] = field(default_factory=dict)

    @classmethod
    def empty(cls, names: Mapping[int, str] | None = None) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int64),
            tracker_id=np.zeros(0, np.int64),
            names=names or {},
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, mask: np.ndarray) -> Detections:
        return Detections(
            self.xyxy[mask], self.confidence[mask], self.class_id[mask], self.tracker_id[mask], self.names
        )

    def with_tracks(self, index: np.ndarray, xyxy: np.ndarray, tracker_id: np.ndarray) -> Detections:
        """All these detections, with what a tracker made of them: those at ``index`` get its ids and boxes
        and come first, in the tracker's order; the rest keep their own box and ``tracker_id`` -1."""
        rest = np.setdiff1d(np.arange(len(self)), index)
        order = np.concatenate([index, rest]).astype(np.int64)
        return Detections(
            xyxy=np.concatenate([xyxy.astype(np.float32).reshape(-1, 4), self.xyxy[rest]]),
            confidence=self.confidence[order],
            class_id=self.class_id[order],
            tracker_id=np.concatenate([tracker_id.astype(np.int64), np.full(len(rest), -1, np.int64)]),
            names=self.names,
        )

    def tracked(self) -> Detections:
        """Only the detections a tracker follows (``tracker_id >= 0``), for rules that follow objects."""
        return self[self.tracker_id >= 0]

    def labels(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.class_id]

    def with_classes(self, labels: set[str]) -> Detections:
        return self[np.array([label in labels for label in self.labels()], dtype=bool)]

    def anchors(self) -> np.ndarray:
        """Bottom-centre of each box: where a vehicle touches the ground, the point zones test."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)
