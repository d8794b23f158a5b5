"""One Ultralytics detector per process, shared by every camera.

Loading a model costs hundreds of megabytes and seconds, and a CPU box has few
cores, so cameras take turns on one model behind a lock rather than each owning one.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import structlog

from edge.config import ModelConfig
from edge.detections import Detections

log = structlog.get_logger(__name__)


class Detector:
    def __init__(self, config: ModelConfig) -> None:
        from ultralytics import YOLO  # imported here: it pulls in torch, which the config tools do not need

        self._config = config
        started = time.monotonic()
        self._model = YOLO(config.path, task="detect")
        self._lock = threading.Lock()
        self.names: dict[int, str] = dict(self._model.names)
        self.inferences = 0
        log.info("detector loaded", model=config.path, device=config.device, classes=len(self.names),
                 seconds=round(time.monotonic() - started, 2))

    def detect(self, image: np.ndarray) -> Detections:
        """Detections in pixels of ``image`` (BGR), untracked."""
        with self._lock:
            result = self._model.predict(
                image, imgsz=self._config.imgsz, conf=self._config.conf, device=self._config.device, verbose=False
            )[0]
            self.inferences += 1
        boxes = result.boxes.cpu().numpy()
        return Detections(
            xyxy=boxes.xyxy.astype(np.float32),
            confidence=boxes.conf.astype(np.float32),
            class_id=boxes.cls.astype(np.int64),
            tracker_id=np.full(len(boxes), -1, np.int64),
            names=self.names,
        )
