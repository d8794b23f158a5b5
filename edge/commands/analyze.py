"""``gridwatch-edge analyze``: the live pipeline over a recording, as fast as the machine allows.

Timestamps come from the recording (its start plus each frame's pts), so dwell
times and deadlines follow the media. Tests, evaluation and benchmarks stand on this.

A ``stop`` event (the CLI sets it on SIGTERM or SIGINT) ends the reading early and the wait for
the outbox at once; what was not delivered stays in the outbox for the next run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from uuid import UUID

import av
import structlog
from tqdm import tqdm

from contract.event import Event
from edge.analysis.detector import Detector
from edge.capture.frames import Frame
from edge.commands.runtime import Publishing, evidence_writer, media_store
from edge.config import EdgeConfig
from edge.delivery.health import CameraHealthTracker
from edge.pipeline import CameraContext, CameraPipeline

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AnalyzeRequest:
    camera_id: str
    source: str
    events_out: Path
    media_dir: Path | None = None
    publish: bool = False
    drain_timeout_s: float | None = None
    start_ts: float | None = None
    progress: bool = True


@dataclass(frozen=True)
class AnalyzeReport:
    events: int
    frames: int
    media_seconds: float
    cpu_seconds: float
    wall_seconds: float
    delivered: bool

    @property
    def cpu_per_media_second(self) -> float:
        return self.cpu_seconds / self.media_seconds if self.media_seconds else 0.0


def duration_of(source: str) -> float | None:
    """Seconds of video in a recording, for the progress bar; None for streams."""
    try:
        with av.open(source) as container:
            return container.duration / av.time_base if container.duration else None
    except (OSError, av.FFmpegError):
        return None


def analyze(
    config: EdgeConfig,
    request: AnalyzeRequest,
    detector: Detector | None = None,
    stop: threading.Event | None = None,
) -> AnalyzeReport:
    """Run one camera's pipeline over ``request.source``; with ``publish``, wait for the outbox to drain.

    ``detector`` lets a caller that analyses many recordings (``eval``) load the model once."""
    stop = stop or threading.Event()
    camera = config.camera(request.camera_id).model_copy(update={"source": request.source})
    store = media_store(config, request.media_dir)
    health = CameraHealthTracker(camera.id, camera.name, camera.district)
    publishing = Publishing(config, store, [health]) if request.publish else None
    wall, cpu = time.monotonic(), time.process_time()
    request.events_out.parent.mkdir(parents=True, exist_ok=True)
    if publishing:
        publishing.start()
    try:
        with request.events_out.open("w", encoding="utf-8") as out:
            context = CameraContext(
                device_id=config.device_id,
                detector=detector or Detector(config.model),
                tracker_yaml=config.model.tracker,
                evidence=evidence_writer(config, store),
                sink=_sink(out, publishing),
            )
            pipeline = CameraPipeline(camera, context, health)
            seconds = _run_with_progress(pipeline, request, stop)
        delivered = publishing.delivery.wait_empty(request.drain_timeout_s, stop) if publishing else True
    finally:
        if publishing:
            publishing.stop()
    return AnalyzeReport(
        events=pipeline.events,
        frames=pipeline.frames,
        media_seconds=seconds,
        cpu_seconds=time.process_time() - cpu,
        wall_seconds=time.monotonic() - wall,
        delivered=delivered,
    )


def _sink(out: IO[str], publishing: Publishing | None) -> Callable[[Event], None]:
    """Every event goes to the JSONL file first, then (with --publish) into the outbox.

    The pipeline offers an event again when the outbox was full (``OutboxFull``), so the file
    skips an event it already holds: one line per event, however many offers it took.
    """
    written: set[UUID] = set()

    def put(event: Event) -> None:
        if event.event_id not in written:
            out.write(event.to_json() + "\n")
            out.flush()
            written.add(event.event_id)
        if publishing:
            publishing.put(event)

    return put


def _run_with_progress(pipeline: CameraPipeline, request: AnalyzeRequest, stop: threading.Event) -> float:
    """Runs the pipeline to the end of the recording (or ``stop``); returns the seconds of media it covered."""
    total = duration_of(request.source)
    span: list[float] = []
    bar = tqdm(
        total=round(total, 1) if total else None,
        unit="s",
        desc=f"analyze {request.camera_id}",
        disable=not request.progress,
        leave=False,
    )

    def on_frame(frame: Frame) -> None:
        span[:] = [span[0] if span else frame.ts, frame.ts]
        bar.update(round(span[1] - span[0], 1) - bar.n)

    with bar:
        pipeline.run(stop, live=False, start_ts=request.start_ts, on_frame=on_frame)
    covered = span[1] - span[0] if span else 0.0
    return covered if stop.is_set() else total or covered
