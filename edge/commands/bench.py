"""``gridwatch-edge bench``: what one camera costs this box, and how many such cameras it carries.

N copies of one configured camera analyse the same recording at once, as fast as they can, through
the pipeline ``analyze`` and ``run`` use, sharing one detector as ``run`` does. The box's CPU time
over the run, divided by the cameras and the seconds of video, is the cost of one camera;
``cameras_per_box`` is how many such cameras the box's cores pay for in real time. Decoding and
inference are also measured on their own (a pass of the reader alone, then the detector on frames
of it), so the table says where the time goes.

The largest analysis lag is simulated: each analysed frame arrives at its media time and takes as
long as it took in the run, with all N cameras competing (pessimistic below the box's capacity).

``baseline`` also runs Ultralytics' own every-frame loop, ``model.track(source=CLIP, stream=True)``,
on the same recording in the same process, and feeds its tracks to the camera's parking rules, so
the ratio of the two costs comes with the parking starts each side finds: speed bought with missed
vehicles would show.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
import structlog
from tqdm import tqdm

from contract.event import Event, EventType, Phase
from edge.analysis.detections import Detections
from edge.analysis.detector import Detector
from edge.capture.frames import Frame
from edge.capture.reader import Reader
from edge.commands.runtime import evidence_writer, media_store
from edge.config import CameraConfig, EdgeConfig, load_config
from edge.delivery.health import CameraHealthTracker
from edge.evidence.store import MediaStore
from edge.pipeline import CameraContext, CameraPipeline
from edge.rules.base import AnalysedFrame
from edge.rules.illegal_parking import IllegalParking
from edge.rules.registry import ZoneRules, build_rules

log = structlog.get_logger(__name__)

INFER_SAMPLES = 10
"""Frames the detector is timed on alone, after the run."""
MB = 1_000_000


@dataclass(frozen=True)
class BenchRequest:
    source: str
    camera_id: str | None = None
    """The configured camera whose settings, zones and rules every copy gets; None: the first."""
    cameras: int = 1
    baseline: bool = False
    progress: bool = True


@dataclass
class _Camera:
    """One copy's run: its pipeline, and the wall clock and media time of each analysed frame."""

    pipeline: CameraPipeline
    events: list[Event] = field(default_factory=list)
    done: list[tuple[float, float]] = field(default_factory=list)
    error: BaseException | None = None

    def progress_s(self) -> float:
        return self.done[-1][1] - self.done[0][1] if self.done else 0.0


def process_cpu() -> float:
    """CPU seconds of this process, every thread (FFmpeg's and OpenVINO's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parking_starts(events: list[Event]) -> int:
    return sum(1 for e in events if e.type is EventType.illegal_parking and e.phase is Phase.start)


def cores() -> int:
    return len(os.sched_getaffinity(0))


def bench(config: EdgeConfig, request: BenchRequest, stop: threading.Event | None = None) -> dict[str, Any]:
    """Measure, print nothing; returns the report (see ``table`` and the README for its keys)."""
    stop = stop or threading.Event()
    template = config.camera(request.camera_id or config.cameras[0].id)
    camera = template.model_copy(update={"source": request.source})
    video_s, size = _clip_facts(request.source)
    detector = Detector(config.model)
    decoding = _decode_pass(camera, request.source)
    for image in decoding.samples[:1]:
        detector.detect(image)  # OpenVINO compiles on the first call: no camera's cost
    with tempfile.TemporaryDirectory(prefix="gridwatch-bench-") as folder:
        run = _run_cameras(config, camera, detector, request, Path(folder), stop)
    report: dict[str, Any] = {
        "source": request.source,
        "video_s": round(video_s, 2),
        "size": f"{size[0]}x{size[1]}",
        "cores": cores(),
        "cameras": request.cameras,
        "keyframes_only": camera.reader.keyframes_only,
        "max_gap_s": camera.reader.max_gap_s,
        "analysis_fps": camera.analysis_fps,
        "packets": decoding.packets,
        "frames_decoded": decoding.decoded,
        "frames_analysed": run.frames_analysed,
        "frames_skipped": run.frames_skipped,
        "decode_ms_per_frame": round(1000 * decoding.cpu_s / max(decoding.decoded, 1), 2),
        "infer_ms_per_frame": round(1000 * _infer_cpu(detector, decoding.samples), 2),
        **run.figures(video_s),
    }
    if request.baseline and not stop.is_set():
        baseline = run_baseline(config, camera, request.source, request.progress)
        report["baseline_cpu_s_per_video_s"] = round(baseline.cpu_s / video_s, 4)
        report["baseline_starts"] = baseline.starts
        report["ratio"] = round(
            report["baseline_cpu_s_per_video_s"] / max(report["cpu_s_per_video_s"], 1e-9), 1
        )
    return report


def _clip_facts(source: str) -> tuple[float, tuple[int, int]]:
    with av.open(source) as container:
        stream = container.streams.video[0]
        seconds = container.duration / av.time_base if container.duration else float(stream.duration or 0)
        return seconds, (stream.codec_context.width, stream.codec_context.height)


@dataclass
class _Decoding:
    packets: int
    decoded: int
    cpu_s: float
    samples: list[np.ndarray]


def _decode_pass(camera: CameraConfig, source: str) -> _Decoding:
    """The reader alone, with the camera's settings: what it decodes and what that costs."""
    reader = Reader(
        camera.id,
        source,
        camera.reader,
        analysis_fps=camera.analysis_fps,
        live=False,
        health=CameraHealthTracker(camera.id),
        start_ts=0.0,
    )
    samples: list[np.ndarray] = []
    started = process_cpu()
    for frame in reader.frames(threading.Event()):
        if len(samples) < INFER_SAMPLES:
            samples.append(frame.image)
    cpu = process_cpu() - started
    return _Decoding(reader.stats.packets, reader.stats.decoded, cpu, samples)


def _infer_cpu(detector: Detector, images: list[np.ndarray]) -> float:
    """CPU seconds of one inference, alone on the box."""
    started = process_cpu()
    for image in images:
        detector.detect(image)
    return (process_cpu() - started) / max(len(images), 1)


@dataclass
class _Run:
    cameras: list[_Camera]
    cpu_s: float
    wall_s: float
    base_rss: int
    peak_rss: int

    @property
    def frames_analysed(self) -> int:
        return self.cameras[0].pipeline.frames

    @property
    def frames_skipped(self) -> int:
        """Analysed frames the detector did not look at: nothing had changed in a zone."""
        return self.cameras[0].pipeline.changes.skipped

    def figures(self, video_s: float) -> dict[str, Any]:
        count = len(self.cameras)
        per_camera = self.cpu_s / (count * video_s)
        return {
            "cpu_s": round(self.cpu_s, 2),
            "wall_s": round(self.wall_s, 2),
            "cpu_s_per_video_s": round(per_camera, 4),
            "cameras_per_box": math.floor(cores() / per_camera) if per_camera else None,
            "max_lag_s": round(max(_max_lag(c.done) for c in self.cameras), 2),
            "rss_mb_per_camera": round((self.peak_rss - self.base_rss) / MB / count, 1),
            "starts": parking_starts(self.cameras[0].events),
            "starts_per_camera": [parking_starts(c.events) for c in self.cameras],
        }


def _max_lag(done: list[tuple[float, float]]) -> float:
    """The largest lag of a real-time feed whose frames arrive at their media time and each take as
    long to analyse (with the reading before it) as they took in the run."""
    lag = finished = 0.0
    previous_wall, first_ts = (done[0][0], done[0][1]) if done else (0.0, 0.0)
    for wall, ts in done:
        arrival = ts - first_ts
        finished = max(arrival, finished) + (wall - previous_wall)
        lag = max(lag, finished - arrival)
        previous_wall = wall
    return lag


def _run_cameras(
    config: EdgeConfig,
    camera: CameraConfig,
    detector: Detector,
    request: BenchRequest,
    folder: Path,
    stop: threading.Event,
) -> _Run:
    store = media_store(config, folder / "media")
    _camera_copy(config, camera, detector, store)  # imports and one-time set-up: no camera's memory
    cameras = [
        _camera_copy(config, camera.model_copy(update={"id": f"{camera.id}-{i + 1}"}), detector, store)
        for i in range(request.cameras)
    ]
    process = psutil.Process()
    base_rss = peak_rss = process.memory_info().rss
    cpu, wall = process_cpu(), time.monotonic()
    threads = [threading.Thread(target=_analyse, args=(c, stop), daemon=True) for c in cameras]
    total_s = _clip_facts(camera.source)[0] * len(cameras)
    with tqdm(total=round(total_s), unit="s", desc="bench", disable=not request.progress, leave=False) as bar:
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            threads[0].join(timeout=0.2)
            peak_rss = max(peak_rss, process.memory_info().rss)
            bar.update(round(sum(c.progress_s() for c in cameras)) - bar.n)
    run = _Run(cameras, process_cpu() - cpu, time.monotonic() - wall, base_rss, peak_rss)
    for copy in cameras:
        if copy.error is not None:
            raise RuntimeError(f"camera {copy.pipeline.camera.id} failed") from copy.error
    return run


def _camera_copy(config: EdgeConfig, camera: CameraConfig, detector: Detector, store: MediaStore) -> _Camera:
    events: list[Event] = []
    context = CameraContext(
        device_id=config.device_id,
        detector=detector,
        tracker_yaml=config.model.tracker,
        evidence=evidence_writer(config, store),
        sink=events.append,
    )
    pipeline = CameraPipeline(camera, context, CameraHealthTracker(camera.id, camera.name, camera.district))
    return _Camera(pipeline, events)


def _analyse(camera: _Camera, stop: threading.Event) -> None:
    def on_frame(frame: Frame) -> None:
        camera.done.append((time.monotonic(), frame.ts))

    try:
        camera.done.append((time.monotonic(), 0.0))
        camera.pipeline.run(stop, live=False, start_ts=0.0, on_frame=on_frame)
    except Exception as err:  # reported by the main thread, with the camera's name
        camera.error = err


@dataclass(frozen=True)
class Baseline:
    cpu_s: float
    frames: int
    starts: int


def run_baseline(config: EdgeConfig, camera: CameraConfig, source: str, progress: bool = True) -> Baseline:
    """Ultralytics' every-frame ``model.track`` loop, its tracks fed to the camera's parking rules.

    The rules' own time is left out of the cost: the baseline is Ultralytics' loop alone."""
    from ultralytics.models import YOLO

    rules = [bound for bound in build_rules(camera) if isinstance(bound.rule, IllegalParking)]
    model = YOLO(config.model.path, task="detect")
    names = dict(model.names)
    with av.open(source) as container:
        rate = float(container.streams.video[0].average_rate or 25)
    starts = frames = 0
    rules_cpu = 0.0
    started = process_cpu()
    results = model.track(
        source=source,
        stream=True,
        verbose=False,
        tracker=config.model.tracker,
        imgsz=config.model.imgsz,
        conf=config.model.conf,
        device=config.model.device,
    )
    with _bar(progress, "baseline") as bar:
        for result in results:
            ruled = process_cpu()
            frame = Frame(image=result.orig_img, ts=frames / rate)
            analysed = AnalysedFrame(frame, _tracked(result, names))
            for rule in rules:
                starts += sum(1 for f in rule.update(analysed) if f.phase is Phase.start)
            rules_cpu += process_cpu() - ruled
            frames += 1
            bar.update(1)
    return Baseline(process_cpu() - started - rules_cpu, frames, starts)


@contextmanager
def _bar(progress: bool, desc: str) -> Iterator[tqdm[Any]]:
    with tqdm(unit="frame", desc=desc, disable=not progress, leave=False) as bar:
        yield bar


def _tracked(result: Any, names: dict[int, str]) -> Detections:
    """Ultralytics' boxes as our Detections: its track ids where it has them, -1 (untracked) where not."""
    if result.boxes is None:
        return Detections.empty(names)
    boxes = result.boxes.cpu().numpy()
    ids = boxes.id if boxes.id is not None else np.full(len(boxes), -1)
    return Detections(
        xyxy=boxes.xyxy.astype(np.float32),
        confidence=boxes.conf.astype(np.float32),
        class_id=boxes.cls.astype(np.int64),
        tracker_id=np.asarray(ids, dtype=np.int64),
        names=names,
    )


COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("cpu_s_per_video_s", "CPU-s per video-s per camera", lambda v: f"{v:.4f}"),
    ("cameras_per_box", "cameras per box (CPU bound)", str),
    ("max_lag_s", "largest analysis lag, s", lambda v: f"{v:.2f}"),
    ("rss_mb_per_camera", "resident memory per camera, MB", lambda v: f"{v:.1f}"),
    ("packets", "frames in the stream", str),
    ("frames_decoded", "frames decoded", str),
    ("frames_analysed", "frames analysed", str),
    ("frames_skipped", "of which inference skipped (no change)", str),
    ("decode_ms_per_frame", "decode CPU-ms per decoded frame", lambda v: f"{v:.2f}"),
    ("infer_ms_per_frame", "inference CPU-ms per frame", lambda v: f"{v:.2f}"),
    ("starts", "parking starts", str),
    ("baseline_cpu_s_per_video_s", "Ultralytics track, CPU-s per video-s", lambda v: f"{v:.4f}"),
    ("baseline_starts", "Ultralytics track, parking starts", str),
    ("ratio", "Ultralytics / edge CPU", lambda v: f"{v:.1f}x"),
]


def table(reports: list[dict[str, Any]], headers: list[str] | None = None) -> str:
    """One column per report (before/after side by side), one row per figure any of them has."""
    headers = headers or [f"{r['cameras']} camera(s)" for r in reports]
    width = max(14, *(len(h) + 2 for h in headers))
    first = reports[0]
    lines = [
        f"{Path(first['source']).name}: {first['size']}, {first['video_s']} s of video, {first['cores']} cores",
        f"{'':40}" + "".join(f"{h:>{width}}" for h in headers),
    ]
    for key, label, show in COLUMNS:
        if any(r.get(key) is not None for r in reports):
            cells = (show(r[key]) if r.get(key) is not None else "-" for r in reports)
            lines.append(f"{label:40}" + "".join(f"{c:>{width}}" for c in cells))
    return "\n".join(lines)


DEFAULT_ZONE = [[0.0, 0.45], [1.0, 0.45], [1.0, 1.0], [0.0, 1.0]]
"""Without ``--config``: the lower half of the frame, with parking, dust and building at their defaults."""


def default_config(model: str | None) -> EdgeConfig:
    rules: dict[str, dict[str, Any]] = {key: {} for key in ZoneRules.model_fields}
    camera = {
        "id": "cam",
        "source": "unused",
        "zones": [{"id": "zone", "polygon": DEFAULT_ZONE, "rules": rules}],
    }
    return EdgeConfig.model_validate(
        {
            "device_id": "bench",
            "central": {"url": None},
            "model": {"path": model or "yolo11n.pt"},
            "cameras": [camera],
        }
    )


def command(args: argparse.Namespace) -> int:
    """``gridwatch-edge bench``: measure, print the table, write the JSON; 4 when interrupted."""
    from edge.commands.stop_signals import StopSignals

    config = load_config(args.config) if args.config else default_config(args.model)
    if args.model:
        config.model.path = args.model
    request = BenchRequest(
        source=args.source,
        camera_id=args.camera,
        cameras=args.cameras,
        baseline=args.baseline,
        progress=not (args.no_progress or args.log_json),
    )
    stop = threading.Event()
    with StopSignals(stop) as signals:
        report = bench(config, request, stop)
    print(table([report]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 4 if signals.received else 0
