"""A tracker per camera: Ultralytics' BoT-SORT or ByteTrack, driven with our Detections.

The detector is shared, so ``model.track`` (which keeps one tracker per model) cannot
serve several cameras; each camera owns a tracker object instead.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from edge.analysis.detections import Detections

LOST_S = 30.0
"""How long a vanished object's track is kept: a parked car hidden by a passing bus must keep its id."""


def _tracker_args(tracker_yaml: str, analysis_fps: float) -> SimpleNamespace:
    from ultralytics.utils import YAML
    from ultralytics.utils.checks import check_yaml

    # Ultralytics leaves YAML.load and check_yaml unannotated.
    args = SimpleNamespace(**YAML.load(check_yaml(tracker_yaml)))  # type: ignore[no-untyped-call]  # Ultralytics leaves these unannotated
    args.track_buffer = max(1, round(LOST_S * analysis_fps))
    if args.tracker_type == "botsort":
        # Global motion compensation estimates camera motion by optical flow; it costs more than the
        # detector's share on a fixed camera sampled at 1 frame/s, where the next frame is too far to flow to.
        args.gmc_method = "none"
        args.with_reid = False
    return args


class Tracker:
    def __init__(self, tracker_yaml: str, analysis_fps: float) -> None:
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker

        # Ultralytics' own TRACKER_MAP holds the same two, but mypy infers its values as returning object.
        trackers: dict[str, type[BYTETracker]] = {"bytetrack": BYTETracker, "botsort": BOTSORT}
        args = _tracker_args(tracker_yaml, analysis_fps)
        self._tracker = trackers[args.tracker_type](args=args)

    def update(self, detections: Detections, image: np.ndarray) -> Detections:
        """Every detection, those that belong to a track with ``tracker_id`` set (``Detections.with_tracks``)."""
        from ultralytics.engine.results import Boxes

        data = np.concatenate(
            [
                detections.xyxy,
                detections.confidence[:, None],
                detections.class_id[:, None].astype(np.float32),
            ],
            axis=1,
        )
        tracks = self._tracker.update(Boxes(data, image.shape[:2]), image)
        if len(tracks) == 0:
            return detections
        return detections.with_tracks(tracks[:, 7].astype(int), tracks[:, :4], tracks[:, 4])
