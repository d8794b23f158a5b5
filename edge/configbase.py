"""The base of every configuration model: unknown keys are errors, not silently ignored."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)
