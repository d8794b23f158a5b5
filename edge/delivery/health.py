"""Per-camera health counters, written by the reader and pipeline, read by the status publisher."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import structlog

from contract.status import CameraHealth, CameraState

log = structlog.get_logger(__name__)


class CameraHealthTracker:
    """Thread-safe: the reader thread writes, the status thread reads."""

    def __init__(self, camera_id: str, name: str | None = None, district: str | None = None) -> None:
        self.camera_id = camera_id
        self._name = name
        self._district = district
        self._lock = threading.Lock()
        self._state = CameraState.stopped
        self._last_error: str | None = None
        self._reconnects = 0
        self._frames = 0
        self._analysed = 0
        self._last_frame_at: float | None = None
        self._window_start = time.monotonic()
        self._fps = 0.0
        self._analysis_fps = 0.0

    @property
    def state(self) -> CameraState:
        return self._state

    @property
    def reconnects(self) -> int:
        return self._reconnects

    def set_state(self, state: CameraState, reason: str | None = None) -> None:
        with self._lock:
            if state == self._state:
                return
            previous, self._state = self._state, state
            if state is CameraState.streaming:
                self._last_error = None  # a camera that streams again has no current error
            elif reason:
                self._last_error = reason
        log.info(
            "camera state", camera=self.camera_id, previous=previous.value, state=state.value, reason=reason
        )

    def reconnected(self) -> None:
        with self._lock:
            self._reconnects += 1

    def frame_received(self, wall_ts: float) -> None:
        with self._lock:
            self._frames += 1
            self._last_frame_at = wall_ts

    def frame_analysed(self) -> None:
        with self._lock:
            self._analysed += 1

    def snapshot(self) -> CameraHealth:
        """Health since the previous snapshot (rates) and overall (counters)."""
        with self._lock:
            now = time.monotonic()
            span = now - self._window_start
            if span >= 1.0:
                self._fps = self._frames / span
                self._analysis_fps = self._analysed / span
                self._frames = self._analysed = 0
                self._window_start = now
            last = self._last_frame_at
            return CameraHealth(
                camera_id=self.camera_id,
                name=self._name,
                district=self._district,
                state=self._state,
                fps=round(self._fps, 2),
                analysis_fps=round(self._analysis_fps, 2),
                last_frame_at=datetime.fromtimestamp(last, UTC) if last else None,
                reconnects=self._reconnects,
                last_error=self._last_error,
            )
