"""The edge configuration: one pydantic model is the source of truth for defaults,
validation and documentation (``streams.example.yaml`` is checked against it).

Validators here do no I/O; paths are resolved against the file's folder by ``load_config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from contract.ids import ID_PATTERN
from contract.topics import DEFAULT_PREFIX
from contract.validation import StrictModel, read_yaml, require_unique_ids, validate
from edge.analysis.zones import Polygon
from edge.rules.base import RuleConfig
from edge.rules.registry import ZoneRules


class MqttConfig(StrictModel):
    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[^/:]+(:\d+)?/?$",
        description="mqtt://host:port, or mqtts:// for TLS.",
    )
    username: str | None = None
    password: str | None = None
    topic_prefix: str = Field(default=DEFAULT_PREFIX, min_length=1)
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    status_interval_s: float = Field(
        default=10.0, gt=0, description="How often the retained status is refreshed."
    )


class CentralConfig(StrictModel):
    url: str | None = Field(
        default="http://127.0.0.1:8080",
        pattern=r"^https?://",
        description="Where media are uploaded; null keeps media on the edge only.",
    )
    token: str | None = Field(default=None, description="This device's bearer token (role device).")
    retry_max_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="Longest wait between two tries of an evidence upload while the central service is away: "
        "once it is back, delivery resumes within this.",
    )


class ModelConfig(StrictModel):
    path: str = Field(
        default="yolo11n.pt",
        min_length=1,
        description="A name Ultralytics knows, or a .pt/.onnx/*_openvino_model/.engine path.",
    )
    imgsz: int = Field(default=640, ge=32, le=4096, multiple_of=32)
    conf: float = Field(default=0.25, gt=0, lt=1)
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?|\d+|mps)$")
    tracker: Literal["botsort.yaml", "bytetrack.yaml"] = Field(
        default="botsort.yaml",
        description="BoT-SORT by default: ByteTrack loses still vehicles on static scenes (docs/architecture.md).",
    )


class StorageConfig(StrictModel):
    dir: Path = Field(default=Path("/var/lib/gridwatch"), description="Outbox database and evidence files.")
    max_gb: float = Field(default=20.0, gt=0, description="Evidence is deleted oldest first above this size.")
    min_free_mb: float = Field(
        default=256.0,
        ge=0,
        description="Evidence is also deleted oldest first to keep this much free on the disk, whatever max_gb "
        "says: the outbox grows into it. Evidence that cannot fit above it is not written; the event says so.",
    )
    outbox_reserve_mb: float = Field(
        default=16.0,
        ge=0,
        description="Disk space set aside for the outbox (a file beside it), given up to it when the disk is "
        "full all the same (filled by something else), made again once there is room.",
    )


class EvidenceConfig(StrictModel):
    pre_s: float = Field(default=5.0, ge=0, le=60, description="Clip seconds before the moment of the event.")
    post_s: float = Field(default=5.0, ge=0, le=60, description="Clip seconds after it.")
    jpeg_quality: int = Field(default=85, ge=10, le=100)


MAX_GAP_S = 10.0
"""The longest derived ``max_gap_s``: a third of the tracker's memory for a lost object (LOST_S), so a
parked car keeps its track across frames of a camera with a very long GOP."""

RULE_RESOLUTION = 10
"""A rule's clock is read at least this many times over the shortest time it measures."""


class ReaderConfig(StrictModel):
    connect_timeout_s: float = Field(default=10.0, gt=0)
    stall_timeout_s: float = Field(default=10.0, gt=0, description="No packet for this long means reconnect.")
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=60.0, gt=0)
    keyframes_only: bool = Field(
        default=True,
        description="Decode keyframes (at most analysis_fps a second) and, where they are further apart than "
        "max_gap_s, the frame due then: the cheapest sampling the rules allow. false: decode every frame and "
        "analyse analysis_fps of them (at 1080p25 with a 2 s GOP, about four times the CPU in all).",
    )
    max_gap_s: float | None = Field(
        default=None,
        gt=0,
        description="Longest wait for the next analysed frame (keyframes_only): past it, the next frame is "
        "decoded even if it is no keyframe, which costs decoding the GOP up to it. null: a tenth of the "
        "shortest time the camera's rules measure (parking dwell_s, dust min_duration_s, building "
        f"check_window_s), within 1/analysis_fps .. {MAX_GAP_S:g} s.",
    )


class ChangeConfig(StrictModel):
    """Inference skipped where nothing changed (edge/analysis/change.py): the last detections stand."""

    enabled: bool = Field(
        default=True,
        description="Run the detector only on a frame that changed inside a zone's bounding box since the last "
        "one it saw (light drift does not count), or max_skip_s after it.",
    )
    max_skip_s: float = Field(
        default=10.0, gt=0, description="The detector looks at least this often, change or not."
    )
    min_changed: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="Share of a zone's pixels (in a 256-pixel-wide grey copy) that must change to count.",
    )


class TurnConfig(StrictModel):
    urls: list[str] = Field(
        min_length=1, description="turn:host:3478 or turns:host:5349 URLs of one TURN server."
    )
    username: str
    credential: str


class LiveConfig(StrictModel):
    """Live view over WebRTC: the central service forwards a browser's offer; the edge answers."""

    mode: Literal["auto", "passthrough", "reencode"] = Field(
        default="auto",
        description="passthrough sends the camera's own H.264 (cheapest); reencode decodes once per camera and "
        "encodes per viewer; auto passes through unless the stream has B-frames, which browsers cannot play.",
    )
    max_viewers: int = Field(default=4, ge=0, description="Viewers of all cameras of this box at once.")
    stun_urls: list[str] = Field(
        default_factory=list, description="stun:host:port URLs, to find the box's public address."
    )
    turn: TurnConfig | None = Field(
        default=None, description="A TURN relay, for boxes whose NAT blocks direct media."
    )
    peer_timeout_s: float = Field(
        default=5.0, gt=0, description="A viewer whose browser has sent no report for this long is closed."
    )
    connect_timeout_s: float = Field(
        default=15.0, gt=0, description="A viewer that has not connected this long after its offer is closed."
    )
    max_stale_s: float = Field(
        default=5.0, gt=0, description="A camera with no packet for this long counts as unavailable."
    )


class Location(StrictModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


def _rule_time_s(rules: ZoneRules) -> float:
    """The shortest time any of a zone's rules measures, in seconds (each rule's config says its own)."""
    return min((config.time_scale_s for _, config in rules if isinstance(config, RuleConfig)), default=0.0)


class ZoneConfig(StrictModel):
    id: str = Field(min_length=1, pattern=ID_PATTERN)
    polygon: Polygon = Field(
        description="Points as [x, y] in 0..1 of the frame, so a resolution change is harmless."
    )
    rules: ZoneRules

    @model_validator(mode="after")
    def _has_rule(self) -> ZoneConfig:
        if not any(getattr(self.rules, name) for name in ZoneRules.model_fields):
            raise ValueError(
                f"zone '{self.id}' has no rules; name at least one of {', '.join(ZoneRules.model_fields)}"
            )
        return self


class CameraConfig(StrictModel):
    id: str = Field(min_length=1, pattern=ID_PATTERN)
    name: str | None = None
    source: str = Field(min_length=1, description="rtsp://, a file path, or any URL FFmpeg reads.")
    district: str | None = None
    grid: str | None = None
    site: str | None = Field(default=None, description="Groups cameras that watch one construction site.")
    location: Location | None = None
    analysis_fps: float = Field(default=1.0, gt=0, le=30, description="Frames analysed per second.")
    reader: ReaderConfig = Field(default_factory=ReaderConfig)
    change: ChangeConfig = Field(default_factory=ChangeConfig)
    zones: list[ZoneConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _derived_gap(self) -> CameraConfig:
        """``reader.max_gap_s`` left null: what the camera's rules need (see ReaderConfig.max_gap_s)."""
        if self.reader.max_gap_s is None:
            gap = min(_rule_time_s(zone.rules) for zone in self.zones) / RULE_RESOLUTION
            self.reader.max_gap_s = min(max(gap, 1.0 / self.analysis_fps), MAX_GAP_S)
        return self

    @model_validator(mode="after")
    def _unique_zones(self) -> CameraConfig:
        require_unique_ids((zone.id for zone in self.zones), "zones")
        return self


class EdgeConfig(StrictModel):
    device_id: str = Field(min_length=1, pattern=ID_PATTERN)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    central: CentralConfig = Field(default_factory=CentralConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    cameras: list[CameraConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_cameras(self) -> EdgeConfig:
        require_unique_ids((camera.id for camera in self.cameras), "cameras")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        known = ", ".join(c.id for c in self.cameras)
        raise KeyError(f"no camera '{camera_id}' in the configuration (known: {known})")


def _relative_to(base: Path, value: str) -> str:
    """Resolve ``./x`` and ``../x`` against the config file's folder; leave names and URLs alone."""
    if value.startswith(("./", "../")):
        return str((base / value).resolve())
    return value


def load_config(path: Path) -> EdgeConfig:
    """Read, validate and resolve an edge configuration file; raises ConfigError."""
    config = validate(EdgeConfig, read_yaml(path), str(path))
    base = path.resolve().parent
    config.model.path = _relative_to(base, config.model.path)
    if not config.storage.dir.is_absolute():
        config.storage.dir = (base / config.storage.dir).resolve()
    for camera in config.cameras:
        camera.source = _relative_to(base, camera.source)
    return config
