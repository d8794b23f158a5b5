"""How both packages report a configuration error: the exact place, then the reason.

``cameras[1].zones[0].polygon: a polygon needs at least 3 points`` is what a person
needs to fix a file; pydantic's raw error list is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

_REWORDED = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


class ConfigError(Exception):
    """A configuration file that cannot be used; ``problems`` lists (place, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {place}: {reason}" for place, reason in problems))


def place_of(loc: tuple[int | str, ...]) -> str:
    """``("cameras", 1, "zones", 0, "polygon")`` -> ``cameras[1].zones[0].polygon``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def problems_of(error: ValidationError) -> list[tuple[str, str]]:
    found = []
    for item in error.errors():
        reason = _REWORDED.get(item["type"], item["msg"])
        reason = reason.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        found.append((place_of(tuple(item["loc"])), reason))
    return found


def read_yaml(path: Path) -> Any:
    """The parsed YAML, or a ConfigError that says where the syntax broke."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(str(path), [("(file)", err.strerror or str(err))]) from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(str(path), [(where, getattr(err, "problem", None) or str(err))]) from err


def validate(model: type[M], data: Any, source: str) -> M:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, [("(top level)", "expected a mapping of keys to values")])
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(source, problems_of(err)) from err
