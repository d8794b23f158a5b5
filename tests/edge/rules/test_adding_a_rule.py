"""Adding a rule is adding its module and its row in the registry: done here to a copy of ``edge/``
with the docs' toy rule (``toy_rule.py``), which then loads from a configuration and runs on frames."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from contract.event import Phase
from edge.analysis.detections import Detections
from edge.analysis.zones import Zone
from edge.capture.frames import Frame
from edge.rules.base import AnalysedFrame
from edge.rules.context import RuleContext
from edge.rules.registry import Builds
from tests.edge.rules.toy_rule import BrightDust, BrightDustConfig

ROOT = Path(__file__).resolve().parents[3]

IMPORT = "from edge.rules.bright_dust import BrightDust, BrightDustConfig\n"
ROW = "    bright_dust: Annotated[BrightDustConfig | None, Builds(BrightDust)] = None\n"

RUN = """
import json
import numpy as np
from pydantic import ValidationError
from contract.event import build_details
from edge.analysis.detections import Detections
from edge.capture.frames import Frame
from edge.config import EdgeConfig
from edge.rules.base import AnalysedFrame
from edge.rules.registry import build_rules
from edge.evaluation.runner import rules_of

def config(rules):
    zone = {"id": "gate", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], "rules": rules}
    camera = {"id": "cam-1", "source": "unused.mp4", "zones": [zone]}
    return EdgeConfig.model_validate({"device_id": "box", "cameras": [camera]})

found = []
rules = build_rules(config({"bright_dust": {"frames": 2}}).cameras[0])
for ts, level in enumerate([50, 230, 230, 230, 50]):
    analysed = AnalysedFrame(Frame(np.full((48, 64, 3), level, np.uint8), float(ts)), Detections.empty())
    for bound in rules:
        for finding in bound.update(analysed):
            assert finding.details is not None
            details = finding.details.model_dump(mode="json", exclude_unset=True)
            build_details(finding.type, details)  # as the pipeline does: the contract accepts them
            found.append([type(bound.rule).__name__, finding.phase.value, finding.observed_at, details])
try:
    config({"bright_dust": {"frame": 2}})
except ValidationError as err:
    refused = err.errors()[0]["loc"]
evaluated = sorted(t.value for t in rules_of(config({"bright_dust": {}}), "cam-1")["gate"])
print(json.dumps({"found": found, "refused": list(refused), "evaluated": evaluated}))
"""


def frame(ts: float, level: int) -> AnalysedFrame:
    return AnalysedFrame(Frame(np.full((48, 64, 3), level, np.uint8), ts), Detections.empty())


def test_the_toy_rule_is_of_the_one_shape() -> None:
    Builds(BrightDust)  # mypy checks the constructor against the registry's RuleClass here
    rule = BrightDust(
        Zone.from_points("gate", [(0, 0), (1, 0), (1, 1), (0, 1)]),
        BrightDustConfig(frames=2),
        RuleContext("cam-1"),
    )
    found = [f for ts, level in enumerate([230, 230, 50]) for f in rule.update(frame(ts, level)).findings]
    assert [(f.phase, f.observed_at) for f in found] == [(Phase.start, 1.0), (Phase.end, 2.0)]
    assert found[0].snapshots[0].label == "bright"


def test_a_module_and_one_registry_row_add_a_rule(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "edge", tree / "edge", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(Path(__file__).with_name("toy_rule.py"), tree / "edge" / "rules" / "bright_dust.py")
    registry = tree / "edge" / "rules" / "registry.py"
    lines = registry.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(lines.index("from edge.rules.dust import Dust, DustConfig\n"), IMPORT)
    last_row = next(i for i, line in enumerate(lines) if line.startswith("    illegal_building: Annotated["))
    lines.insert(last_row + 1, ROW)
    registry.write_text("".join(lines), encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-c", RUN],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["found"] == [
        ["BrightDust", "start", 2.0, {"threshold": 200.0, "duration_s": 0.0}],
        ["BrightDust", "end", 4.0, {"threshold": 200.0, "duration_s": 2.0}],
    ]
    assert answer["refused"] == ["cameras", 0, "zones", 0, "rules", "bright_dust", "frame"]
    assert answer["evaluated"] == ["dust"], "eval scores the rule by the event type it reports, not its key"


def test_the_docs_show_the_toy_rule_and_its_row_as_tested() -> None:
    readme = (ROOT / "edge" / "rules" / "README.md").read_text(encoding="utf-8")
    assert Path(__file__).with_name("toy_rule.py").read_text(encoding="utf-8") in readme
    assert IMPORT in readme
    assert ROW in readme
