"""The central configuration: one pydantic model is the source of truth for defaults,
validation and documentation (``central.example.yaml`` is checked against it).

Every field has a default that needs no set-up, so ``serve`` runs without a file; command-line
flags override the file through ``with_overrides``, and are validated the same way.
"""

from __future__ import annotations

import hmac
import socket
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from contract.event_types import CATALOGUE, EventType
from contract.ids import ID_PATTERN
from contract.topics import DEFAULT_PREFIX
from contract.validation import ConfigError, StrictModel, read_yaml, repeated_ids, validate

ANY_DISTRICT = "*"
MACHINE_ID = Path("/etc/machine-id")


class DatabaseConfig(StrictModel):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db; null means a SQLite file "
        "in data_dir.",
    )


def default_client_id() -> str:
    """The host name and a hash of the machine id made for this use alone (systemd's advice for
    showing it): the same at every start, so the broker hands a restarted replica the events it
    queued meanwhile, and not guessable by a device. Without a machine id (a container) the host
    name alone, which Docker makes random."""
    host = socket.gethostname()
    try:
        machine = MACHINE_ID.read_bytes().strip()
    except OSError:
        machine = b""
    if not machine:
        return f"gridwatch-central-{host}"
    digest = hmac.new(machine, b"gridwatch-central mqtt client id", "sha256").hexdigest()
    return f"gridwatch-central-{host}-{digest[:16]}"


class MqttConfig(StrictModel):
    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        pattern=r"^mqtts?://[^/:]+(:\d+)?/?$",
        description="mqtt://host:port, or mqtts:// for TLS.",
    )
    username: str | None = Field(default=None, description="Broker user name, if the broker needs one.")
    password: str | None = Field(default=None, description="Broker password, if the broker needs one.")
    topic_prefix: str = Field(
        default=DEFAULT_PREFIX, min_length=1, description="Topic prefix of the contract."
    )
    group: str = Field(
        default="gridwatch-central",
        pattern=ID_PATTERN,
        description="Shared-subscription group: replicas in one group split the events.",
    )
    client_id: str = Field(
        default_factory=default_client_id,
        min_length=1,
        max_length=128,
        description="Stable per replica, so the broker keeps its session across restarts; "
        "the default adds to the host name a hash of the machine id, which devices cannot "
        "guess.",
    )
    session_expiry_s: int = Field(
        default=86400,
        ge=0,
        description="How long the broker queues events for this replica while it is "
        "down; 0 ends the session on disconnect.",
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="MQTT keep-alive interval.")
    max_payload_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Messages above this size are refused before parsing."
    )
    batch_size: int = Field(
        default=500,
        ge=1,
        le=10000,
        description="Events stored in one transaction at most; the broker may hold twice this many "
        "unacknowledged at this replica.",
    )
    batch_wait_ms: int = Field(
        default=50,
        ge=0,
        le=10000,
        description="How long a batch waits for more events after its first before it is stored.",
    )


class HttpConfig(StrictModel):
    host: str = Field(default="127.0.0.1", description="Address to listen on; 0.0.0.0 for every interface.")
    port: int = Field(default=8080, ge=1, le=65535, description="TCP port of the API and console.")
    trusted_proxies: list[str] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-Proto and X-Forwarded-For "
        "are believed: they decide Secure cookies and the client address logins are throttled by; [] trusts none.",
    )
    max_body_kib: int = Field(
        default=256,
        ge=1,
        le=64 * 1024,
        description="The largest request body most routes accept, in KiB (login and Open311 "
        "accept less, media uploads media.max_mb); refused with 413 before it is read.",
    )


class LoginConfig(StrictModel):
    free_attempts: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Failed logins of one account before every further try must wait.",
    )
    address_free_attempts: int = Field(
        default=50,
        ge=1,
        le=100000,
        description="Failed logins from one client address, over all accounts, "
        "before every further try from it must wait.",
    )
    max_delay_s: int = Field(
        default=900,
        ge=1,
        le=86400,
        description="The wait starts at 1 s and doubles with each failure up to this.",
    )
    forget_after_s: int = Field(
        default=86400, ge=60, description="Failures older than this (no try since) are forgotten."
    )


class S3Config(StrictModel):
    endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+/?$",
        description="http(s)://host:port of an S3-compatible server (MinIO, Ceph, JuiceFS gateway); "
        "null means AWS S3 in the region.",
    )
    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="The bucket; it must exist already."
    )
    region: str = Field(default="us-east-1", min_length=1, description="The bucket's region.")
    access_key: str | None = Field(
        default=None,
        description="Access key id; null takes boto3's own chain (AWS_ACCESS_KEY_ID, ~/.aws, instance role).",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Secret access key, with access_key; never written to logs."
    )
    path_style: bool = Field(
        default=True,
        description="host/bucket/key addressing, as self-hosted servers need; false for "
        "bucket.host/key (virtual-hosted, AWS's default).",
    )
    prefix: str = Field(
        default="media/", pattern=r"^([^/]+/)*$", description="Key prefix of evidence objects, ending in /."
    )
    timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="Connect and read timeout of one request; an unreachable store answers 503 after it.",
    )

    @model_validator(mode="after")
    def _key_with_secret(self) -> S3Config:
        if (self.access_key is None) != (self.secret_key is None):
            raise ValueError("access_key and secret_key go together: give both or neither")
        return self


class MediaConfig(StrictModel):
    backend: Literal["local", "s3"] = Field(
        default="local", description="local: files in dir; s3: objects in an S3-compatible bucket (media.s3)."
    )
    dir: Path | None = Field(
        default=None,
        description="Where evidence files are kept (with backend s3, where uploads wait while their "
        "hash is checked); null means data_dir/media.",
    )
    max_mb: float = Field(default=200.0, gt=0, description="The largest upload accepted, in MiB.")
    s3: S3Config | None = Field(default=None, description="The bucket, with backend s3.")

    @model_validator(mode="after")
    def _s3_needs_bucket(self) -> MediaConfig:
        if self.backend == "s3" and self.s3 is None:
            raise ValueError("backend s3 needs an s3 section with at least a bucket")
        return self


class TicketsConfig(StrictModel):
    merge_window_minutes: float = Field(
        default=30.0,
        gt=0,
        description="A start event joins an open ticket of the same type and zone (or site) seen this recently.",
    )
    default_sign_hours: float = Field(
        default=24.0,
        gt=0,
        description="Sign-for deadline when a ticket goes to a department that has no route for its type.",
    )
    default_resolve_hours: float = Field(
        default=72.0, gt=0, description="Resolve deadline in that same case."
    )


class RetentionConfig(StrictModel):
    evidence_days: int | None = Field(
        default=None,
        ge=1,
        description="Days after a ticket is finished (closed, rejected or duplicate) that its evidence is kept: "
        "then its events, their media rows and the files no other event uses are purged; the ticket and its "
        "audit trail stay. null keeps evidence forever.",
    )
    batch_events: int = Field(
        default=500,
        ge=1,
        le=10000,
        description="Events purged per transaction: small batches hold their row locks only briefly.",
    )
    interval_minutes: float = Field(
        default=60.0, gt=0, description="How often the service looks for evidence past its retention."
    )


class IceServer(StrictModel):
    urls: list[str] = Field(min_length=1, description="stun:, turn: or turns: URLs of one server.")
    username: str | None = Field(default=None, description="TURN user name.")
    credential: str | None = Field(default=None, description="TURN password.")


class LiveConfig(StrictModel):
    rpc_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="How long to wait for an edge's answer before reporting it offline.",
    )
    ice_servers: list[IceServer] = Field(
        default_factory=list,
        description="STUN/TURN servers given to browsers for live view; empty "
        "suits viewers on the edges' own network.",
    )


class Department(StrictModel):
    id: str = Field(pattern=ID_PATTERN, description="Short stable id, used in tokens and routes.")
    name: str = Field(min_length=1, description="Display name, e.g. 崇川区城市管理局.")


class Route(StrictModel):
    type: EventType = Field(description="The event type this route covers.")
    district: str = Field(
        default=ANY_DISTRICT,
        min_length=1,
        description="The camera's district, or * for any district without its own route.",
    )
    department: str = Field(description="Id of the department that receives these tickets.")
    sign_hours: float = Field(
        gt=0,
        description="Hours from dispatch within which the department must sign for it; "
        "omitted, the type's default from the catalogue (contract/event_types.py).",
    )
    resolve_hours: float = Field(
        gt=0,
        description="Hours from dispatch within which it must be resolved; omitted, the type's default.",
    )

    @model_validator(mode="before")
    @classmethod
    def _type_deadlines(cls, data: Any) -> Any:
        """A route that names no deadline takes its type's from the catalogue."""
        kind = data.get("type") if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in CATALOGUE:
            return data  # not a mapping, or no known type: the field validators say what is wrong
        defaults = CATALOGUE[EventType(kind)]
        return {"sign_hours": defaults.sign_hours, "resolve_hours": defaults.resolve_hours, **data}

    @model_validator(mode="after")
    def _resolve_after_sign(self) -> Route:
        if self.resolve_hours < self.sign_hours:
            raise ValueError(
                f"resolve_hours ({self.resolve_hours}) must not be less than sign_hours ({self.sign_hours})"
            )
        return self


class CentralConfig(StrictModel):
    data_dir: Path = Field(
        default=Path("var/central"),
        description="Holds the SQLite database and media unless they are set elsewhere.",
    )
    database: DatabaseConfig = Field(default_factory=DatabaseConfig, description="Where tickets are stored.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="The broker the edges publish to.")
    http: HttpConfig = Field(default_factory=HttpConfig, description="The API listener.")
    login: LoginConfig = Field(
        default_factory=LoginConfig, description="Throttling of failed console logins."
    )
    media: MediaConfig = Field(default_factory=MediaConfig, description="Evidence storage.")
    tickets: TicketsConfig = Field(default_factory=TicketsConfig, description="How events become tickets.")
    live: LiveConfig = Field(default_factory=LiveConfig, description="Live view of cameras in the browser.")
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="How long the evidence of finished tickets is kept."
    )
    departments: list[Department] = Field(default_factory=list, description="Who receives tickets.")
    routes: list[Route] = Field(default_factory=list, description="Event type x district -> department.")

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'central.db'}"

    @property
    def media_dir(self) -> Path:
        return self.media.dir or self.data_dir / "media"

    def department(self, department_id: str) -> Department | None:
        return next((d for d in self.departments if d.id == department_id), None)


def cross_check(config: CentralConfig) -> list[tuple[str, str]]:
    """Problems that span fields, each with its exact place (a model validator could only say 'top level')."""
    problems = repeated_ids((dept.id for dept in config.departments), "departments")
    department_ids = {dept.id for dept in config.departments}
    seen_routes: dict[tuple[str, str], int] = {}
    for i, route in enumerate(config.routes):
        if route.department not in department_ids:
            known = ", ".join(sorted(department_ids)) or "none defined"
            problems.append(
                (f"routes[{i}].department", f"unknown department {route.department!r} (known: {known})")
            )
        key = (route.type.value, route.district)
        if key in seen_routes:
            reason = (
                f"a second route for {key[0]} in district {key[1]!r} (first at routes[{seen_routes[key]}])"
            )
            problems.append((f"routes[{i}]", reason))
        seen_routes.setdefault(key, i)
    return problems


def parse_config(data: Any, source: str, base_dir: Path | None = None) -> CentralConfig:
    """Validate raw data; relative paths are taken against ``base_dir`` (the file's folder)."""
    config = validate(CentralConfig, data, source)
    problems = cross_check(config)
    if problems:
        raise ConfigError(source, problems)
    if base_dir is not None:
        config = _resolve_paths(config, base_dir)
    return config


def load_config(path: Path | None) -> CentralConfig:
    """The file's configuration, or the defaults when there is no file."""
    if path is None:
        return parse_config({}, "defaults")
    return parse_config(read_yaml(path), str(path), base_dir=path.resolve().parent)


def with_overrides(config: CentralConfig, overrides: dict[str, Any]) -> CentralConfig:
    """Apply dotted-key overrides from the command line (``{"http.port": 9000}``), None meaning 'not given'."""
    data = config.model_dump(mode="python")
    given = {key: value for key, value in overrides.items() if value is not None}
    for dotted, value in given.items():
        target = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value
    return parse_config(data, "command line") if given else config


def _resolve_paths(config: CentralConfig, base_dir: Path) -> CentralConfig:
    data_dir = config.data_dir if config.data_dir.is_absolute() else base_dir / config.data_dir
    media_dir = config.media.dir
    if media_dir is not None and not media_dir.is_absolute():
        media_dir = base_dir / media_dir
    return config.model_copy(
        update={
            "data_dir": data_dir,
            "media": config.media.model_copy(update={"dir": media_dir}),
        }
    )
