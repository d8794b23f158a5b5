"""Edge fixtures: configurations written per test, pointing at the shared weights."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

EdgeConfigFactory = Callable[..., Path]


@pytest.fixture
def edge_config(tmp_path: Path, model_path: Path) -> EdgeConfigFactory:
    """Writes an edge config with one camera and one zone; keyword args override any part of it."""

    def make(
        polygon: list[list[float]],
        rules: dict[str, Any],
        source: str = "unused.mp4",
        analysis_fps: float = 5.0,
        **top: Any,
    ) -> Path:
        config: dict[str, Any] = {
            "device_id": "test-box",
            "central": {"url": None},
            "model": {"path": str(model_path)},
            "storage": {"dir": str(tmp_path / "state")},
            "evidence": {"pre_s": 2, "post_s": 2},
            "cameras": [
                {
                    "id": "cam-1",
                    "name": "test camera",
                    "district": "chongchuan",
                    "source": source,
                    "analysis_fps": analysis_fps,
                    "zones": [{"id": "zone-1", "polygon": polygon, "rules": rules}],
                }
            ],
        }
        config.update(top)
        path = tmp_path / "edge.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        return path

    return make
