"""check-config: a valid file passes with a summary, each broken file gives its exact error."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ValidationError

from edge.commands.cli import main
from edge.config import EdgeConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "streams.example.yaml"

ZONE = {"id": "z1", "polygon": [[0, 0], [1, 0], [1, 1]], "rules": {"illegal_parking": {}}}
VALID = {
    "device_id": "box-1",
    "cameras": [
        {
            "id": "cam-a",
            "source": "rtsp://10.0.0.1/a",
            "zones": [ZONE],
        },
        {
            "id": "cam-b",
            "source": "rtsp://10.0.0.1/b",
            "zones": [
                {
                    "id": "z1",
                    "polygon": [[0, 0], [1, 0], [1, 1]],
                    "rules": {"illegal_parking": {"dwell_s": 60}},
                }
            ],
        },
    ],
}


def _broken(path: list[str | int], value: object) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(yaml.safe_dump(VALID))
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


BROKEN = [
    (
        _broken(["cameras", 1, "zones", 0, "polygon"], [[0, 0], [1, 1]]),
        "cameras[1].zones[0].polygon: a polygon needs at least 3 points",
    ),
    (
        _broken(["cameras", 0, "zones", 0, "polygon"], [[0, 0], [1.5, 0], [1, 1]]),
        "cameras[0].zones[0].polygon: point 1 [1.5, 0.0] is outside 0..1 (coordinates are fractions of the frame)",
    ),
    (_broken(["cameras", 0, "analysis_fps"], 0), "cameras[0].analysis_fps: Input should be greater than 0"),
    (
        _broken(["cameras", 0, "zones", 0, "rules"], {"illegal_parking": {"dwel_s": 5}}),
        "cameras[0].zones[0].rules.illegal_parking.dwel_s: unknown key",
    ),
    (
        _broken(["cameras", 0, "zones", 0, "rules"], {}),
        "cameras[0].zones[0]: zone 'z1' has no rules; name at least one of illegal_parking, dust, illegal_building",
    ),
    (_broken(["cameras", 1, "id"], "cam-a"), "cameras[1].id: duplicate id 'cam-a' (first at cameras[0])"),
    (
        _broken(["cameras", 1, "zones"], [ZONE] * 2),
        "cameras[1].zones[1].id: duplicate id 'z1' (first at cameras[1].zones[0])",
    ),
    (_broken(["mqtt"], {"url": "http://broker"}), "mqtt.url: String should match pattern"),
    (_broken(["cameras", 0, "source"], None), "cameras[0].source: Input should be a valid string"),
    (_broken(["colour"], "blue"), "colour: unknown key"),
    ({"cameras": VALID["cameras"]}, "device_id: required key is missing"),
    (_broken(["model"], {"device": "tpu"}), "model.device: String should match pattern"),
]


@pytest.mark.parametrize(("data", "expected"), BROKEN, ids=[e.split(":")[0] for _, e in BROKEN])
def test_broken_file_gives_exact_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any], expected: str
) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", str(path)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert any(line.startswith(f"{path}: {expected}") for line in errors), errors


def test_each_repeated_id_is_named_with_its_first_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(_broken(["cameras", 1, "zones"], [ZONE] * 3)))
    assert main(["check-config", str(path)]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert [line for line in errors if "duplicate" in line] == [
        f"{path}: cameras[1].zones[1].id: duplicate id 'z1' (first at cameras[1].zones[0])",
        f"{path}: cameras[1].zones[2].id: duplicate id 'z1' (first at cameras[1].zones[0])",
    ]


def test_a_repeated_id_names_its_place_outside_a_file_too() -> None:
    expected = "cameras[1].id: duplicate id 'cam-a' (first at cameras[0])"
    with pytest.raises(ValidationError, match=re.escape(expected)):
        EdgeConfig.model_validate(_broken(["cameras", 1, "id"], "cam-a"))


def test_yaml_syntax_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text("device_id: a\ncameras: [\n  - id: x\n")
    assert main(["check-config", str(path)]) == 2
    assert f"{path}: line 3" in capsys.readouterr().err


def test_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(tmp_path / "nope.yaml")]) == 2
    assert "No such file or directory" in capsys.readouterr().err


def test_every_error_is_listed_not_just_the_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _broken(["cameras", 0, "analysis_fps"], -1)
    data["cameras"][1]["zones"][0]["polygon"] = [[0, 0]]
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cameras[0].analysis_fps" in err
    assert "cameras[1].zones[0].polygon" in err


def test_example_is_valid_and_prints_a_summary() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge", "check-config", str(EXAMPLE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(
        "ok: device town-centre-01, 2 cameras, 3 zones (dust x1, illegal_building x1, illegal_parking x2)"
    )


def _field_names(model: type[BaseModel]) -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        names.add(field.alias or name)
        for arg in [field.annotation, *getattr(field.annotation, "__args__", ())]:
            for inner in [arg, *getattr(arg, "__args__", ())]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    names |= _field_names(inner)
    return names


def test_example_documents_every_key_of_the_model() -> None:
    """The example is the documentation: every key the model accepts appears in it."""
    text = EXAMPLE.read_text()
    missing = sorted(name for name in _field_names(EdgeConfig) if f"{name}:" not in text)
    assert not missing, f"streams.example.yaml does not show: {missing}"


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    data = _broken(["storage"], {"dir": "./state"})
    data["model"] = {"path": "./weights/model.onnx"}
    data["cameras"][0]["source"] = "../footage/a.mp4"
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "edge.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    assert config.storage.dir == tmp_path / "conf" / "state"
    assert config.model.path == str(tmp_path / "conf" / "weights" / "model.onnx")
    assert config.cameras[0].source == str(tmp_path / "footage" / "a.mp4")
    assert config.cameras[1].source == "rtsp://10.0.0.1/b"
