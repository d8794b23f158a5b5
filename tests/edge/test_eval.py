"""``gridwatch-edge eval``: matching events to the truth, the labels file's checks, the scene
generator's reproducibility, and the whole command over small generated suites."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from contract.event import Event, EventType, Phase
from contract.validation import ConfigError
from edge.commands.cli import main
from edge.config import EdgeConfig
from edge.evaluation.labels import Expectation, Labels, Recording
from edge.evaluation.metrics import outcome, scores
from edge.evaluation.runner import RecordingRun, check
from edge.scenes.footage import SITE, Footage, write_recording
from edge.scenes.kinds import BuildingScene, DustScene, View
from edge.scenes.suite import SCENES, SITE_ZONE, build
from tests.support.paths import MEDIA

START = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def event(kind: EventType, at_s: float, zone: str = "z", phase: Phase = Phase.start) -> Event:
    moment = START + timedelta(seconds=at_s)
    return Event(
        event_id=uuid.uuid4(),
        phase=phase,
        type=kind,
        device_id="d",
        camera_id="c",
        zone_id=zone,
        started_at=moment,
        observed_at=moment,
        confidence=0.9,
    )


def expect(kind: EventType, after_s: float, before_s: float, zone: str = "z") -> Expectation:
    return Expectation(type=kind, zone=zone, after_s=after_s, before_s=before_s)


def run_of(
    expected: list[Expectation], events: list[Event], rules: set[EventType] | None = None
) -> RecordingRun:
    recording = Recording(id="r", source="r.mp4", camera="c", start_time=START, expect=expected)
    return RecordingRun(recording, Path("r.mp4"), Path("work"), events, frozenset(rules or {EventType.dust}))


DUST = EventType.dust


@pytest.mark.parametrize(
    ("case", "expected", "events", "tp_fp_fn", "delays"),
    [
        ("found in its window", [expect(DUST, 10, 60)], [event(DUST, 40)], (1, 0, 0), [30.0]),
        ("too early", [expect(DUST, 10, 60)], [event(DUST, 5)], (0, 1, 1), []),
        ("too late", [expect(DUST, 10, 60)], [event(DUST, 61)], (0, 1, 1), []),
        ("wrong zone", [expect(DUST, 10, 60)], [event(DUST, 40, zone="other")], (0, 1, 1), []),
        (
            "an end phase is not a detection",
            [expect(DUST, 10, 60)],
            [event(DUST, 40, phase=Phase.end)],
            (0, 0, 1),
            [],
        ),
        (
            "a second start for one truth is a false alarm",
            [expect(DUST, 10, 60)],
            [event(DUST, 50), event(DUST, 20)],
            (1, 1, 0),
            [10.0],
        ),
        ("a negative with an alarm", [], [event(DUST, 20)], (0, 1, 0), []),
        ("a quiet negative", [], [], (0, 0, 0), []),
    ],
)
def test_matching(
    case: str,
    expected: list[Expectation],
    events: list[Event],
    tp_fp_fn: tuple[int, int, int],
    delays: list[float],
) -> None:
    score = scores([outcome(run_of(expected, events))])[DUST]
    assert (score.tp, score.fp, score.fn) == tp_fp_fn, case
    assert list(score.delays_s) == delays, case


def test_scores_per_rule_with_negatives_and_ratios() -> None:
    runs = [
        run_of([expect(DUST, 0, 100)], [event(DUST, 30)]),
        run_of([expect(DUST, 0, 100)], [event(DUST, 50)]),
        run_of([expect(DUST, 0, 100)], []),
        run_of([], [event(DUST, 5)]),
        run_of([], [], rules={DUST, EventType.illegal_parking}),
    ]
    table = scores(outcome(run) for run in runs)
    dust, parking = table[DUST], table[EventType.illegal_parking]
    assert (dust.tp, dust.fp, dust.fn, dust.negatives, dust.negatives_alarmed) == (2, 1, 1, 2, 1)
    assert dust.precision == pytest.approx(2 / 3)
    assert dust.recall == pytest.approx(2 / 3)
    assert dust.f1 == pytest.approx(2 / 3)
    assert dust.median_ttd_s == 40.0
    assert (parking.tp, parking.fp, parking.negatives, parking.recall) == (0, 0, 1, None)
    assert EventType.illegal_building not in table  # no recording runs it


def test_labels_name_known_cameras_zones_and_rules() -> None:
    config = EdgeConfig.model_validate(
        {
            "device_id": "d",
            "cameras": [
                {
                    "id": "c",
                    "source": "x.mp4",
                    "zones": [{"id": "z", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": {"dust": {}}}],
                }
            ],
        }
    )
    labels = Labels(
        config="edge.yaml",
        recordings=[
            Recording(
                id="a", source="a.mp4", camera="c", start_time=START, expect=[expect(DUST, 0, 9, zone="nope")]
            ),
            Recording(
                id="b",
                source="b.mp4",
                camera="c",
                start_time=START,
                expect=[expect(EventType.illegal_parking, 0, 9)],
            ),
            Recording(id="c", source="c.mp4", camera="gone", start_time=START),
        ],
    )
    with pytest.raises(ConfigError) as caught:
        check(labels, config, "labels.yaml")
    assert [place for place, _ in caught.value.problems] == [
        "recordings[0].expect[0]",
        "recordings[1].expect[0]",
        "recordings[2].camera",
    ]
    assert "has no zone 'z' running illegal_parking" in caught.value.problems[1][1]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"type": "dust", "zone": "z", "after_s": 10, "before_s": 5}, "before_s (5.0) must be after after_s"),
        ({"type": "smoke", "zone": "z", "after_s": 0, "before_s": 5}, "Input should be"),
        ({"type": "dust", "zone": "z", "after_s": 0, "before_s": 5, "by": 1}, "Extra inputs"),
    ],
)
def test_expectation_errors(data: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=re.escape(error)):
        Expectation.model_validate(data)


def test_scenes_are_reproducible(shared_media: Path) -> None:
    footage = Footage(MEDIA)
    scene = next(s for s in SCENES if s.id == "dust-site-a")
    first = [timed.image for timed in islice(scene.frames(footage), 40)]
    again = [timed.image for timed in islice(scene.frames(footage), 40)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def _write_suite(folder: Path, model_path: Path) -> Path:
    """Two short recordings with deliberately wrong labels: a shed labelled as nothing (a false alarm)
    and fog labelled as dust (a miss), so both kinds of evidence reach the report."""
    footage = Footage(MEDIA)
    shed = next(s for s in SCENES if s.id == "building-shed-a")
    assert isinstance(shed, BuildingScene)
    quick_shed = BuildingScene(
        shed.id, shed.description, shed.view, shed.zone, shed.structure, hours=(10,), seed=shed.seed
    )
    fog = DustScene(
        "fog",
        "fog",
        View(SITE, 10),
        SITE_ZONE,
        "fog",
        0.4,
        fps=1.0,
        duration_s=30.0,
        onset_s=3.0,
        clear_s=28.0,
    )
    cameras: list[dict[str, Any]] = []
    recordings: list[dict[str, Any]] = []
    ten_local = START + timedelta(hours=1)  # 10:00 in UTC+8: the check hour
    for scene, start in ((quick_shed, ten_local), (fog, START)):
        write_recording(folder / f"{scene.id}.mp4", scene.frames(footage), start, keyframe_every=2)
        cameras.append({"id": scene.id, "source": f"{scene.id}.mp4", **scene.camera()})
        recordings.append(
            {
                "id": scene.id,
                "source": f"{scene.id}.mp4",
                "camera": scene.id,
                "start_time": start.isoformat(),
                "expect": [],
            }
        )
    recordings[1]["expect"] = [{"type": "dust", "zone": "site", "after_s": 3, "before_s": 28}]
    config = {
        "device_id": "t",
        "central": {"url": None},
        "model": {"path": str(model_path)},
        "cameras": cameras,
    }
    (folder / "edge.yaml").write_text(yaml.safe_dump(config))
    (folder / "labels.yaml").write_text(yaml.safe_dump({"config": "edge.yaml", "recordings": recordings}))
    return folder / "labels.yaml"


def test_eval_reports_false_alarms_and_misses_with_evidence(
    tmp_path: Path, model_path: Path, shared_media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labels = _write_suite(tmp_path, model_path)
    report = tmp_path / "report"
    assert main(["eval", "--labels", str(labels), "--report", str(report), "--no-progress"]) == 0
    rules = {"illegal_building", "dust"}
    rows = {
        line.split()[0]: line.split()[1:4]
        for line in capsys.readouterr().out.splitlines()
        if line.split()[:1] and line.split()[0] in rules
    }
    assert rows == {"illegal_building": ["0", "1", "0"], "dust": ["0", "0", "1"]}
    data = json.loads((report / "report.json").read_text())
    assert data["rules"]["illegal_building"]["fp"] == 1
    assert data["rules"]["dust"]["recall"] == 0.0
    alarm = data["recordings"][0]["false_alarms"][0]
    miss = data["recordings"][1]["misses"][0]
    assert sorted(Path(p).name for p in alarm["evidence"]) == ["alarm-0-current.jpg", "alarm-0-reference.jpg"]
    assert miss["evidence"] == ["evidence/fog/miss-0.jpg"]
    page = (report / "index.html").read_text()
    for path in [*alarm["evidence"], *miss["evidence"]]:
        assert (report / path).stat().st_size > 1000
        assert f"src='{path}'" in page


def test_eval_of_a_broken_labels_file_names_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "labels.yaml"
    path.write_text(yaml.safe_dump({"config": "edge.yaml", "recordings": [{"id": "a", "source": "a.mp4"}]}))
    assert main(["eval", "--labels", str(path)]) == 2
    assert f"{path}: recordings[0].camera: required key is missing" in capsys.readouterr().err


@pytest.mark.slow
def test_generated_suite_scores_every_rule(
    tmp_path: Path, model_path: Path, shared_media: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One positive and one negative per rule, generated by the product's own command."""
    chosen = {
        "dust-site-a",
        "sandstorm-site",
        "building-shed-a",
        "building-light",
        "parking-a",
        "parking-traffic",
    }
    labels = build(tmp_path / "suite", MEDIA, str(model_path), only=lambda scene: scene.id in chosen)
    assert (
        main(["eval", "--labels", str(labels), "--json", str(tmp_path / "report.json"), "--no-progress"]) == 0
    )
    rules = json.loads((tmp_path / "report.json").read_text())["rules"]
    for rule in ("dust", "illegal_building", "illegal_parking"):
        assert (rules[rule]["tp"], rules[rule]["fp"], rules[rule]["fn"]) == (1, 0, 0), (rule, rules[rule])


def test_a_repeated_recording_id_is_named_with_its_first_use() -> None:
    recording = {"id": "rec-1", "source": "a.mp4", "camera": "cam", "start_time": "2026-01-01T00:00:00Z"}
    expected = "recordings[2].id: duplicate id 'rec-1' (first at recordings[0])"
    with pytest.raises(ValidationError, match=re.escape(expected)):
        Labels.model_validate(
            {"config": "edge.yaml", "recordings": [recording, {**recording, "id": "rec-2"}, recording]}
        )
