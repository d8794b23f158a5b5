"""The truth an evaluation is measured against: which recordings, under which configuration, and
which events each should produce (type, zone, and the time window in which the event must start).

A recording configured for a rule and expecting none of its events is a negative for that
rule: any event there is a false alarm. Times are seconds after the recording's ``start_time``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AwareDatetime, Field, model_validator

from contract.event import EventType
from contract.ids import ID_PATTERN
from contract.validation import StrictModel, read_yaml, require_unique_ids, validate

SCHEMA = "gridwatch.labels/1"


class Expectation(StrictModel):
    type: EventType = Field(description="The rule that must fire.")
    zone: str = Field(min_length=1, description="The zone (of the recording's camera) it must fire for.")
    after_s: float = Field(
        ge=0, description="Earliest start that counts, seconds after start_time (the truth's onset)."
    )
    before_s: float = Field(gt=0, description="Latest start that counts, seconds after start_time.")

    @model_validator(mode="after")
    def _window(self) -> Expectation:
        if self.before_s <= self.after_s:
            raise ValueError(f"before_s ({self.before_s}) must be after after_s ({self.after_s})")
        return self


class Recording(StrictModel):
    id: str = Field(min_length=1, pattern=ID_PATTERN, description="Names the recording in reports.")
    source: str = Field(min_length=1, description="The recording, relative to the labels file or absolute.")
    camera: str = Field(
        min_length=1, description="The camera (in the configuration) whose zones and rules apply."
    )
    start_time: AwareDatetime = Field(
        description="Wall-clock time of the first frame; label times count from it."
    )
    description: str = Field(default="", description="What the scene shows, for the report.")
    expect: list[Expectation] = Field(
        default_factory=list, description="Events that must start; none: a negative."
    )


class Labels(StrictModel):
    schema_: str = Field(default=SCHEMA, alias="schema", pattern=r"^gridwatch\.labels/1$")
    config: str = Field(
        min_length=1, description="The edge configuration, relative to the labels file or absolute."
    )
    recordings: list[Recording] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Labels:
        require_unique_ids((recording.id for recording in self.recordings), "recordings")
        return self


def resolve(base: Path, value: str) -> Path:
    """A path from the labels file, relative to that file's folder."""
    path = Path(value)
    return path if path.is_absolute() else (base / path).resolve()


def load_labels(path: Path) -> Labels:
    """Read and validate a labels file; raises ConfigError naming every problem."""
    return validate(Labels, read_yaml(path), str(path))
