"""Runs every labelled recording through ``edge.commands.analyze.analyze``: the very pipeline ``analyze`` and
``run`` use, so a score measures the product, not a stand-in.

Each recording gets a fresh state folder (a building reference learnt from one recording must not
judge the next) and keeps its events and evidence under the work folder for the report.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import structlog
from tqdm import tqdm

from contract.event import Event, EventType
from contract.validation import ConfigError
from edge.analysis.detector import Detector
from edge.capture.reader import ReaderError
from edge.commands.analyze import AnalyzeRequest, analyze
from edge.config import EdgeConfig, load_config
from edge.evaluation.labels import Labels, Recording, resolve
from edge.rules.registry import event_type_of

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RecordingRun:
    """What one recording produced. ``error`` is set when it could not be analysed at all."""

    recording: Recording
    source: Path
    folder: Path
    events: list[Event]
    rules: frozenset[EventType]
    """The rules the recording's camera runs: a rule with no expectation here is a negative."""
    frames: int = 0
    wall_s: float = 0.0
    error: str | None = None

    @property
    def media_dir(self) -> Path:
        return self.folder / "media"


def rules_of(config: EdgeConfig, camera_id: str) -> dict[str, frozenset[EventType]]:
    """Zone id -> the rules configured for it, for one camera."""
    zones = config.camera(camera_id).zones
    return {
        zone.id: frozenset(event_type_of(name) for name, value in zone.rules if value is not None)
        for zone in zones
    }


def check(labels: Labels, config: EdgeConfig, source: str) -> None:
    """Every recording names a known camera, and every expectation a zone of it that runs that rule."""
    problems: list[tuple[str, str]] = []
    for i, recording in enumerate(labels.recordings):
        try:
            zones = rules_of(config, recording.camera)
        except KeyError as err:
            problems.append((f"recordings[{i}].camera", str(err.args[0])))
            continue
        for j, expected in enumerate(recording.expect):
            if expected.type not in zones.get(expected.zone, frozenset()):
                problems.append(
                    (
                        f"recordings[{i}].expect[{j}]",
                        (
                            f"camera '{recording.camera}' has no zone '{expected.zone}' "
                            f"running {expected.type.value}"
                        ),
                    )
                )
    if problems:
        raise ConfigError(source, problems)


def load(labels_path: Path, labels: Labels) -> EdgeConfig:
    config = load_config(resolve(labels_path.parent, labels.config))
    check(labels, config, str(labels_path))
    return config


def run_all(
    labels_path: Path, labels: Labels, config: EdgeConfig, work: Path, progress: bool
) -> list[RecordingRun]:
    runs: list[RecordingRun] = []
    detector = Detector(config.model)  # loaded once: every recording uses the same model
    bar = tqdm(labels.recordings, desc="eval", unit="rec", disable=not progress)
    for recording in bar:
        bar.set_postfix_str(recording.id)
        source = resolve(labels_path.parent, recording.source)
        runs.append(run_one(config, recording, source, work / recording.id, detector))
    return runs


def run_one(
    config: EdgeConfig, recording: Recording, source: Path, folder: Path, detector: Detector | None = None
) -> RecordingRun:
    if folder.exists():
        shutil.rmtree(folder)
    state = folder / "state"
    state.mkdir(parents=True)
    isolated = config.model_copy(update={"storage": config.storage.model_copy(update={"dir": state})})
    request = AnalyzeRequest(
        camera_id=recording.camera,
        source=str(source),
        events_out=folder / "events.jsonl",
        media_dir=folder / "media",
        start_ts=recording.start_time.timestamp(),
        progress=False,
    )
    rules = frozenset().union(*rules_of(config, recording.camera).values())
    try:
        report = analyze(isolated, request, detector)
    except (ReaderError, OSError) as err:
        log.error("recording not analysed", recording=recording.id, source=str(source), error=str(err))
        return RecordingRun(recording, source, folder, [], rules, error=str(err))
    events = [
        Event.from_json(line) for line in request.events_out.read_text(encoding="utf-8").splitlines() if line
    ]
    log.info(
        "recording analysed",
        recording=recording.id,
        events=len(events),
        frames=report.frames,
        wall_s=round(report.wall_seconds, 1),
    )
    return RecordingRun(recording, source, folder, events, rules, report.frames, report.wall_seconds)
