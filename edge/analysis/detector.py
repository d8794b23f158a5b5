"""One Ultralytics detector per process, shared by every camera.

Loading a model costs hundreds of megabytes and seconds, and a CPU box has few
cores, so cameras take turns on one model behind a lock rather than each owning one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np
import structlog

from edge.analysis.detections import Detections
from edge.config import ModelConfig

if TYPE_CHECKING:
    from torch import Tensor
    from ultralytics.engine.results import Boxes, Results

log = structlog.get_logger(__name__)


class Detector:
    def __init__(self, config: ModelConfig) -> None:
        # Imported here: it pulls in torch, which the config tools do not need.
        from ultralytics.models import YOLO

        self._config = config
        started = time.monotonic()
        self._model = YOLO(config.path, task="detect")
        self._lock = threading.Lock()
        self.names: dict[int, str] = dict(self._model.names)
        log.info(
            "detector loaded",
            model=config.path,
            device=config.device,
            classes=len(self.names),
            seconds=round(time.monotonic() - started, 2),
        )

    def detect(self, image: np.ndarray) -> Detections:
        """Detections in pixels of ``image`` (BGR), untracked."""
        with self._lock:
            results = self._model.predict(
                image,
                imgsz=self._config.imgsz,
                conf=self._config.conf,
                device=self._config.device,
                verbose=False,
            )
        # Ultralytics leaves BaseTensor.cpu unannotated.
        boxes = _first_boxes(results).cpu().numpy()  # type: ignore[no-untyped-call]  # Ultralytics leaves BaseTensor.cpu unannotated
        return Detections(
            xyxy=boxes.xyxy.astype(np.float32),
            confidence=boxes.conf.astype(np.float32),
            class_id=boxes.cls.astype(np.int64),
            tracker_id=np.full(len(boxes), -1, np.int64),
            names=self.names,
        )


def _first_boxes(results: Iterable[Results | Tensor]) -> Boxes:
    """The boxes of the one image predicted. ``predict`` is declared to return streams and raw tensors
    too (other modes and tasks); a detection model given one image returns one ``Results`` with boxes."""
    from ultralytics.engine.results import Results

    result = next(iter(results))
    if not isinstance(result, Results) or result.boxes is None:
        raise TypeError(f"predict gave {type(result).__name__} without boxes: is model.path a detect model?")
    return result.boxes
