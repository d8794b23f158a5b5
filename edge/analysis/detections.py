"""The one detections type that flows detector -> tracker -> rules (parallel arrays, never tuples)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes in pixels of the analysed frame; ``tracker_id`` is -1 until a tracker assigns one."""

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

    def labels(self) -> list[str]:
        return [self.names.get(int(c), str(int(c))) for c in self.class_id]

    def with_classes(self, labels: set[str]) -> Detections:
        return self[np.array([label in labels for label in self.labels()], dtype=bool)]

    def anchors(self) -> np.ndarray:
        """Bottom-centre of each box: where a vehicle touches the ground, the point zones test."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)
