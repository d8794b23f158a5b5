"""A finding's details as its type's model, so a rule test reads them as typed attributes."""

from __future__ import annotations

from typing import TypeVar

from contract.event import CommonDetails
from edge.rules.base import Finding

D = TypeVar("D", bound=CommonDetails)


def details_of(finding: Finding, kind: type[D]) -> D:
    assert isinstance(finding.details, kind), f"{finding.type} finding carries {finding.details!r}"
    return finding.details
