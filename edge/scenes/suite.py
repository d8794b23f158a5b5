"""The generated evaluation suite: every scene as a row, and the writer of recordings, the edge
configuration that watches them and the labels that say what each must produce.

Every random choice comes from each row's seed, so one command rebuilds the same suite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import structlog
import yaml
from tqdm import tqdm

from edge.evaluation.labels import Labels, Recording
from edge.scenes.effects import Structure
from edge.scenes.footage import HIGHWAY, SITE, Footage, write_recording
from edge.scenes.kinds import BuildingScene, DustScene, ParkingScene, View, Weather

log = structlog.get_logger(__name__)

Scene = DustScene | BuildingScene | ParkingScene

CHINA = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 9, 0, tzinfo=CHINA)
BUILDING_START = datetime(2026, 11, 2, 7, 0, tzinfo=CHINA)

SITE_ZONE = [(0.05, 0.25), (0.95, 0.25), (0.95, 0.5), (0.05, 0.5)]
"""parking_row.mp4's construction site, above the car park's wall."""
MOTORWAY_VERGE = [(0.0, 0.3), (0.36, 0.3), (0.36, 0.5), (0.0, 0.62)]
MOTORWAY_FIELD = [(0.64, 0.3), (1.0, 0.3), (1.0, 0.52), (0.7, 0.52)]
KERB = [(0.0, 0.65), (0.35, 0.65), (0.35, 1.0), (0.0, 1.0)]
"""Where the composed van parks on highway.mp4 (its anchor lands at about (0.14, 0.87))."""
LANES = [(0.0, 0.45), (1.0, 0.45), (1.0, 1.0), (0.0, 1.0)]

BROWN = (120.0, 160.0, 200.0)
MILD = (
    Weather(),
    Weather(0.85, (1.05, 1.0, 0.95), 1.1),
    Weather(1.1, (0.95, 1.0, 1.05), 0.95),
    Weather(0.75, (1.1, 1.0, 0.9), 1.2),
    Weather(1.0, (1.0, 1.0, 1.0), 1.05),
)
"""Day-to-day light at the check hour: a fair day, haze, bright sun, overcast."""
HARSH = (
    Weather(),
    Weather(0.55, (1.15, 1.0, 0.85), 1.3),
    Weather(1.35, (0.9, 1.0, 1.1), 0.8),
    Weather(0.7, (0.8, 0.95, 1.2), 1.0),
    Weather(1.2, (1.0, 1.0, 1.0), 1.15),
)

PARK = ((2.0, 330, 170), (4.0, 60, 250), (14.0, 60, 250), (16.0, 330, 170))

SCENES: tuple[Scene, ...] = (
    DustScene("dust-site-a", "warm dust over the site", View(SITE, 10), SITE_ZONE, "dust", seed=1),
    DustScene(
        "dust-site-b", "thin brown dust, drifting", View(SITE, 60), SITE_ZONE, "dust", 0.5, BROWN, seed=2
    ),
    DustScene("dust-site-c", "dense dust", View(SITE, 80), SITE_ZONE, "dust", 0.4, seed=3),
    DustScene(
        "dust-site-d",
        "light dust in dull light",
        View(SITE, 20),
        SITE_ZONE,
        "dust",
        0.55,
        (140.0, 175.0, 210.0),
        seed=4,
    ),
    DustScene(
        "dust-verge",
        "dust over a motorway verge, traffic passing",
        View(HIGHWAY, live=True),
        MOTORWAY_VERGE,
        "dust",
        seed=5,
    ),
    DustScene(
        "fog-site", "fog over the whole view (negative)", View(SITE, 10), SITE_ZONE, "fog", 0.4, seed=6
    ),
    DustScene(
        "fog-verge",
        "fog over the motorway (negative)",
        View(HIGHWAY, live=True),
        MOTORWAY_VERGE,
        "fog",
        0.35,
        seed=7,
    ),
    DustScene(
        "sandstorm-site",
        "warm haze over the whole view: weather (negative)",
        View(SITE, 60),
        SITE_ZONE,
        "sandstorm",
        seed=8,
    ),
    DustScene("dusk-site", "the light falls and warms (negative)", View(SITE, 80), SITE_ZONE, "dusk", seed=9),
    DustScene(
        "clouds-site",
        "cloud shadows drift over the site (negative)",
        View(SITE, 20),
        SITE_ZONE,
        "clouds",
        seed=10,
    ),
    BuildingScene(
        "building-shed-a",
        "a blue-roofed shed goes up; people and vehicles pass",
        View(SITE, 10),
        SITE_ZONE,
        Structure("shed", (300, 105, 80, 45), (175, 180, 185), (170, 100, 40)),
        passers=1,
        weather=MILD,
        seed=11,
    ),
    BuildingScene(
        "building-block-b",
        "a brick block goes up",
        View(SITE, 60),
        SITE_ZONE,
        Structure("block", (150, 100, 90, 50), (70, 90, 150), (0, 0, 0)),
        weather=MILD,
        seed=12,
    ),
    BuildingScene(
        "building-shed-c",
        "a red-roofed shed under passing clouds",
        View(SITE, 80),
        SITE_ZONE,
        Structure("shed", (420, 108, 70, 42), (190, 190, 190), (60, 60, 170)),
        weather=MILD,
        clouds=True,
        seed=13,
    ),
    BuildingScene(
        "building-container-d",
        "a green container cabin; busy site",
        View(SITE, 20),
        SITE_ZONE,
        Structure("container", (200, 112, 110, 36), (60, 130, 60), (0, 0, 0)),
        passers=2,
        weather=MILD,
        seed=14,
    ),
    BuildingScene(
        "building-field",
        "a white cabin in a field by the motorway",
        View(HIGHWAY),
        MOTORWAY_FIELD,
        Structure("container", (470, 140, 60, 30), (215, 215, 210), (0, 0, 0)),
        weather=MILD,
        seed=15,
    ),
    BuildingScene(
        "building-passers",
        "only people and vehicles come and go (negative)",
        View(SITE, 10),
        SITE_ZONE,
        passers=3,
        weather=MILD,
        seed=16,
    ),
    BuildingScene(
        "building-light",
        "the light changes hard from day to day (negative)",
        View(SITE, 60),
        SITE_ZONE,
        weather=HARSH,
        seed=17,
    ),
    BuildingScene(
        "building-clouds",
        "cloud shadows at every hour (negative)",
        View(SITE, 80),
        SITE_ZONE,
        weather=MILD,
        clouds=True,
        seed=18,
    ),
    ParkingScene("parking-a", "a van parks at the kerb for 10 s", KERB, PARK, parked=(4.0, 14.0)),
    ParkingScene(
        "parking-b",
        "a van parks further along for 9 s",
        KERB,
        ((1.0, 360, 160), (4.0, 120, 262), (13.0, 120, 262), (15.0, 360, 160)),
        parked=(4.0, 13.0),
    ),
    ParkingScene(
        "parking-c",
        "a van parks while others drive by",
        KERB,
        PARK,
        parked=(4.0, 14.0),
        extra=(((0.0, 420, 150), (6.0, 560, 290)), ((9.0, 500, 130), (15.0, 600, 300))),
    ),
    ParkingScene("parking-traffic", "the motorway's own moving traffic (negative)", LANES, traffic=True),
    ParkingScene(
        "parking-drive-through",
        "a van drives through the kerb zone (negative)",
        KERB,
        ((2.0, 330, 170), (7.0, -70, 310)),
    ),
)


def _start_of(scene: Scene) -> datetime:
    return BUILDING_START if isinstance(scene, BuildingScene) else START


def build(out: Path, media: Path, model: str, only: Callable[[Scene], bool] = lambda scene: True) -> Path:
    """Write the recordings, ``edge.yaml`` and ``labels.yaml`` into ``out``; return the labels path."""
    out.mkdir(parents=True, exist_ok=True)
    footage = Footage(media)
    scenes = [scene for scene in SCENES if only(scene)]
    cameras: list[dict[str, Any]] = []
    recordings: list[Recording] = []
    for scene in tqdm(scenes, desc="scenes", unit="scene"):
        path = write_recording(
            out / f"{scene.id}.mp4",
            scene.frames(footage),
            _start_of(scene),
            keyframe_every=scene.keyframe_every,
        )
        cameras.append(
            {"id": scene.id, "name": scene.description, "source": f"./{path.name}", **scene.camera()}
        )
        recordings.append(
            Recording(
                id=scene.id,
                source=path.name,
                camera=scene.id,
                start_time=_start_of(scene),
                description=scene.description,
                expect=scene.expect(),
            )
        )
        log.info("scene written", scene=scene.id, path=str(path), expected=len(scene.expect()))
    config = {
        "device_id": "eval-suite",
        "central": {"url": None},
        "model": {"path": model},
        "storage": {"dir": "./state"},
        "evidence": {"pre_s": 2, "post_s": 2},
        "cameras": cameras,
    }
    (out / "edge.yaml").write_text(_yaml(config), encoding="utf-8")
    labels = Labels(config="edge.yaml", recordings=recordings)
    path = out / "labels.yaml"
    path.write_text(_yaml(labels.model_dump(mode="json", by_alias=True)), encoding="utf-8")
    return path


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people to read: no anchors for repeated polygons."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=None, width=120
    )
