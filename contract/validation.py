"""How both packages report a configuration error: the exact place, then the reason.

``cameras[1].zones[0].polygon: a polygon needs at least 3 points`` is what a person
needs to fix a file; pydantic's raw error list is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

M = TypeVar("M", bound=BaseModel)

REPEATED_IDS = "repeated_ids"
"""The pydantic error type of ``require_unique_ids``, whose context carries each repeat's own place."""

_REWORDED = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


class StrictModel(BaseModel):
    """The base of every configuration model on both sides: a misspelt key must fail loudly, not fall
    back to a default."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


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
    found: list[tuple[str, str]] = []
    for item in error.errors():
        loc = tuple(item["loc"])
        if item["type"] == REPEATED_IDS:
            field = f"{place_of(loc)}.{item['ctx']['field']}" if loc else item["ctx"]["field"]
            found.extend(_repeat_problem(field, *repeat) for repeat in item["ctx"]["repeats"])
            continue
        reason = _REWORDED.get(item["type"], item["msg"])
        reason = reason.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        found.append((place_of(loc), reason))
    return found


def repeated_ids(ids: Iterable[str], field: str) -> list[tuple[str, str]]:
    """A (place, reason) for each id that an earlier item of the list ``field`` already has:
    ``("departments[2].id", "duplicate id 'a' (first at departments[0])")``. Naming both places lets a
    person decide which of the two to rename without searching the file."""
    return [_repeat_problem(field, *repeat) for repeat in _repeats(ids)]


def require_unique_ids(ids: Iterable[str], field: str) -> None:
    """``repeated_ids`` for a model validator: raises the repeats as one pydantic error.

    pydantic places a model validator's error at the model itself (``cameras[0]``, or the top level);
    the error's context carries the repeats, so that ``problems_of`` names each at its full place,
    ``cameras[0].zones[2].id``, rather than the whole camera.
    """
    repeats = _repeats(ids)
    if repeats:
        problems = (_repeat_problem(field, *repeat) for repeat in repeats)
        message = "; ".join(f"{place}: {reason}" for place, reason in problems)
        raise PydanticCustomError(
            REPEATED_IDS, "{message}", {"message": message, "field": field, "repeats": repeats}
        )


def _repeats(ids: Iterable[str]) -> list[tuple[int, int, str]]:
    """(position, position of the first use, id) for each id that an earlier position already has."""
    first_at: dict[str, int] = {}
    repeats: list[tuple[int, int, str]] = []
    for i, item_id in enumerate(ids):
        first = first_at.setdefault(item_id, i)
        if first != i:
            repeats.append((i, first, item_id))
    return repeats


def _repeat_problem(field: str, position: int, first: int, item_id: str) -> tuple[str, str]:
    return f"{field}[{position}].id", f"duplicate id {item_id!r} (first at {field}[{first}])"


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
