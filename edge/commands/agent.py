"""``gridwatch-edge run``: every configured camera, live, until SIGTERM.

Each camera runs in its own thread under a supervisor that restarts it after an
unexpected error, because nobody is on site to restart a box that runs for months.
"""

from __future__ import annotations

import threading

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from edge.analysis.detector import Detector
from edge.commands.references import ReferenceApprovals
from edge.commands.restarts import RestartBackoff
from edge.commands.rpc import LoopThread, RpcServer
from edge.commands.runtime import Publishing, evidence_writer, media_store
from edge.config import CameraConfig, EdgeConfig
from edge.delivery.health import CameraHealthTracker
from edge.live import LiveService
from edge.pipeline import CameraContext, CameraPipeline

log = structlog.get_logger(__name__)


class Agent:
    def __init__(self, config: EdgeConfig) -> None:
        self.config = config
        self.health = [CameraHealthTracker(c.id, c.name, c.district) for c in config.cameras]
        self.publishing = Publishing(config, media_store(config), self.health)
        self.loop = LoopThread("live")  # RPC handlers and WebRTC peers
        self.live = LiveService(config.live, self.health, self.loop)
        self._pipelines: dict[str, CameraPipeline] = {}
        rpc = RpcServer(self.publishing.link, self.loop)
        self.live.register(rpc)
        ReferenceApprovals(self._pipelines.get).register(rpc)
        self._threads: list[threading.Thread] = []

    def run(self, stop: threading.Event) -> None:
        """Block until ``stop`` is set; pending events stay in the outbox for the next start."""
        log.info("agent starting", device=self.config.device_id, cameras=len(self.config.cameras))
        self.loop.start()
        self.publishing.start()
        try:
            context = CameraContext(
                device_id=self.config.device_id,
                detector=Detector(self.config.model),
                tracker_yaml=self.config.model.tracker,
                evidence=evidence_writer(self.config, self.publishing.store),
                sink=self.publishing.put,
                state_dir=self.config.storage.dir / "rules",
            )
            for camera, health in zip(self.config.cameras, self.health, strict=True):
                thread = threading.Thread(
                    target=self._supervise,
                    args=(camera, health, context, stop),
                    name=f"camera-{camera.id}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)
            stop.wait()
        finally:
            for thread in self._threads:
                thread.join(timeout=15)
            self.live.stop()
            self.loop.stop()
            pending = self.publishing.outbox.count()
            self.publishing.stop()
            log.info("agent stopped", device=self.config.device_id, outbox_pending=pending)

    def _supervise(
        self, camera: CameraConfig, health: CameraHealthTracker, context: CameraContext, stop: threading.Event
    ) -> None:
        def crashed(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.error(
                "camera pipeline crashed; restarting",
                camera=camera.id,
                attempt=state.attempt_number,
                error=repr(error),
                retry_in_s=round(state.upcoming_sleep, 1),
            )

        def pause(seconds: float) -> None:
            stop.wait(seconds)  # a stop ends the back-off at once

        retrying = Retrying(
            wait=RestartBackoff(initial_s=1, max_s=60, healthy_s=300),
            sleep=pause,
            retry=retry_if_exception_type(Exception),
            before_sleep=crashed,
        )
        feed = self.live.feed(camera.id)
        for attempt in retrying:
            with attempt:
                pipeline = CameraPipeline(camera, context, health)
                self._pipelines[camera.id] = pipeline
                feed.attach(pipeline.ring)
                pipeline.run(stop, live=True, on_frame=feed.frame_analysed)
