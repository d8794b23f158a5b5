"""``bench-queries`` seeds a history and times every console query through the API, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from central.bench_queries import CASES
from central.cli import main
from central.db import make_engine
from central.models import AuditEntry, Event, EventMedia, Ticket
from central.workflow import FINISHED, OPEN


def test_a_small_history_is_seeded_and_every_query_answers(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "queries.json"
    flags = ["--db", database_url, "--data-dir", str(tmp_path), "--repeat", "2", "--no-progress"]

    assert main(["bench-queries", "--tickets", "2000", *flags, "--json", str(out)]) == 0

    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["tickets"] == 2000
    names = [row["name"] for row in result["queries"]]
    assert names == [case.name for case in CASES] + ["change stream poll"]
    assert all(row["runs"] == 2 and 0 < row["p50_ms"] <= row["p95_ms"] for row in result["queries"])
    assert "queue status+department" in capsys.readouterr().out
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(Ticket.status, sa.func.count()).group_by(Ticket.status))
        statuses = {row[0]: row[1] for row in rows}
        counts = [
            connection.scalar(sa.select(sa.func.count()).select_from(t)) or 0
            for t in (Event, EventMedia, AuditEntry)
        ]
    engine.dispose()
    assert sum(n for s, n in statuses.items() if s in FINISHED) > sum(
        n for s, n in statuses.items() if s in OPEN
    )
    assert all(count > 2000 for count in counts)


def test_a_database_that_holds_tickets_is_measured_only_with_reuse(database_url: str, tmp_path: Path) -> None:
    flags = ["--db", database_url, "--data-dir", str(tmp_path), "--repeat", "1", "--no-progress"]
    assert main(["bench-queries", "--tickets", "50", *flags]) == 0

    with pytest.raises(SystemExit, match="already holds 50 tickets"):
        main(["bench-queries", "--tickets", "50", *flags])
    assert main(["bench-queries", "--reuse", *flags]) == 0
