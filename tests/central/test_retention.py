"""Retention: evidence of tickets finished long ago is purged in batches; tickets and audit trail stay."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.app import create_app
from central.auth import create_token
from central.cli import main
from central.clock import FrozenClock, SystemClock
from central.config import RetentionConfig
from central.db import migrate
from central.models import AuditEntry, Event, EventMedia, MediaObject, Ticket
from central.retention import PurgeReport, Retention
from central.services import Services, build_services
from contract.event import Event as WireEvent
from contract.event import MediaKind, MediaRef
from contract.topics import Topics
from tests.central.conftest import TOKEN_HOLDERS, bearer, central_config
from tests.central.factories import episode, event
from tests.central.waiting import wait_until

DAYS = 30


@dataclass(frozen=True)
class History:
    """An old closed ticket (three events), an open one sharing one of its files, a recently closed one."""

    old: int
    open: int
    recent: int
    old_only: list[str]
    shared: str
    kept: list[str]


def upload(client: TestClient, token: str, text: bytes) -> str:
    body = b"\xff\xd8\xff\xe0" + text  # a JPEG's signature: the upload checks the bytes' type
    sha = hashlib.sha256(body).hexdigest()
    response = client.put(
        f"/api/v1/media/{sha}", content=body, headers={**bearer(token), "Content-Type": "image/jpeg"}
    )
    assert response.status_code == 201, response.text
    return sha


def ref(sha: str) -> MediaRef:
    return MediaRef(kind=MediaKind.snapshot, sha256=sha, bytes=10, content_type="image/jpeg")


def ingest(services: Services, *events: WireEvent) -> int:
    topics = Topics(services.config.mqtt.topic_prefix)
    for e in events:
        assert services.intake.event(topics.events(e.device_id), e.to_json().encode()).value == "stored"
    with services.sessions() as session:
        return int(session.scalar(sa.select(sa.func.max(Ticket.id))) or 0)


def act(client: TestClient, token: str, ticket_id: int, action: str, **body: str) -> None:
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/actions", headers=bearer(token), json={"action": action, **body}
    )
    assert response.status_code == 200, response.text


def close(client: TestClient, tokens: dict[str, str], ticket_id: int) -> None:
    act(client, tokens["operator"], ticket_id, "dispatch")
    for action in ("accept", "start"):
        act(client, tokens["cg-chongchuan"], ticket_id, action)
    act(client, tokens["cg-chongchuan"], ticket_id, "resolve", comment="towed")
    act(client, tokens["operator"], ticket_id, "close")


def make_history(
    services: Services, client: TestClient, tokens: dict[str, str], clock: FrozenClock
) -> History:
    device = tokens["device"]
    old_only = [upload(client, device, f"old snapshot {i}".encode()) for i in range(3)]
    shared = upload(client, device, b"a snapshot two events share")
    steps = episode(camera="cam-old", district="chongchuan")
    for step, sha in zip(steps, old_only, strict=True):
        step.media.append(ref(sha))
    steps[0].media.append(ref(shared))
    old = ingest(services, *steps)
    own = upload(client, device, b"the open ticket's own snapshot")
    open_ = ingest(services, event(camera="cam-open", media=[ref(shared), ref(own)], district="chongchuan"))
    close(client, tokens, old)
    clock.advance(timedelta(days=DAYS + 1))
    recent_sha = upload(client, device, b"a recent snapshot")
    recent = ingest(
        services, event(camera="cam-new", at=clock.now(), media=[ref(recent_sha)], district="chongchuan")
    )
    close(client, tokens, recent)
    return History(old, open_, recent, old_only, shared, [shared, own, recent_sha])


@pytest.fixture
def history(services: Services, client: TestClient, tokens: dict[str, str], clock: FrozenClock) -> History:
    return make_history(services, client, tokens, clock)


def retention(services: Services, batch: int = 2) -> Retention:
    return Retention(
        services.sessions,
        services.media,
        RetentionConfig(evidence_days=DAYS, batch_events=batch),
        services.clock,
    )


def events_of(services: Services, ticket_id: int) -> int:
    with services.sessions() as session:
        return session.scalar(sa.select(sa.func.count()).where(Event.ticket_id == ticket_id)) or 0


def media_rows(services: Services) -> set[str]:
    with services.sessions() as session:
        return set(session.scalars(sa.select(MediaObject.sha256)))


def test_old_closed_evidence_goes_in_batches_and_the_ticket_and_its_audit_trail_stay(
    services: Services, client: TestClient, tokens: dict[str, str], history: History
) -> None:
    with services.sessions() as session:
        audit_before = session.scalar(sa.select(sa.func.count()).where(AuditEntry.ticket_id == history.old))

    report = retention(services, batch=2).purge()

    assert report == PurgeReport(events=3, references=4, media=3)
    assert events_of(services, history.old) == 0
    assert events_of(services, history.open) == 1
    assert events_of(services, history.recent) == 1
    assert media_rows(services) == set(history.kept)
    assert not any(services.media.exists(sha) for sha in history.old_only)
    assert all(services.media.exists(sha) for sha in history.kept)
    detail = client.get(f"/api/v1/tickets/{history.old}", headers=bearer(tokens["operator"])).json()
    assert detail["status"] == "closed"
    assert detail["events"] == []
    assert len(detail["history"]) == audit_before
    with services.sessions() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(EventMedia)) == 3
    assert retention(services).purge() == PurgeReport()


def test_a_dry_run_counts_what_a_purge_removes_and_removes_nothing(
    services: Services, history: History
) -> None:
    before = media_rows(services)

    counted = retention(services).purge(dry_run=True)

    assert counted == PurgeReport(events=3, references=4, media=3, dry_run=True)
    assert media_rows(services) == before
    assert events_of(services, history.old) == 3
    assert retention(services).purge() == PurgeReport(events=3, references=4, media=3)


def test_without_a_retention_setting_evidence_is_kept_forever(services: Services, history: History) -> None:
    kept = Retention(services.sessions, services.media, RetentionConfig(), services.clock)

    assert kept.purge() == PurgeReport()
    assert events_of(services, history.old) == 3


@pytest.fixture
def retaining(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    config = central_config(
        database_url, tmp_path, **{"retention.evidence_days": DAYS, "retention.interval_minutes": 0.01}
    )
    built = build_services(config, clock, with_ingest=False)
    migrate(built.engine)
    yield built
    built.close()


def test_the_service_purges_by_itself_while_it_runs(
    retaining: Services, tokens_of_retaining: dict[str, str], clock: FrozenClock
) -> None:
    with TestClient(create_app(retaining)) as client:
        history = make_history(retaining, client, tokens_of_retaining, clock)
        assert wait_until(lambda: events_of(retaining, history.old) == 0, timeout=30)
    assert events_of(retaining, history.open) == 1


@pytest.fixture
def tokens_of_retaining(retaining: Services) -> dict[str, str]:
    with retaining.sessions.begin() as session:
        return {
            name: create_token(session, retaining.clock, role, name, department)
            for name, (role, department) in TOKEN_HOLDERS.items()
        }


def test_purge_command_dry_run_and_purge(
    services: Services, history: History, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "central.yaml"
    config.write_text(f"retention: {{evidence_days: {DAYS}}}\n", encoding="utf-8")
    url = services.engine.url.render_as_string(hide_password=False)
    flags = ["--config", str(config), "--db", url, "--data-dir", str(services.config.data_dir)]

    now = Retention(services.sessions, services.media, RetentionConfig(evidence_days=DAYS), SystemClock())
    expected = now.purge(dry_run=True)  # the command runs on the system clock, so both tickets may be old

    assert main(["purge", "--dry-run", *flags]) == 0
    assert (
        f"would purge {expected.events} events, {expected.references} media references"
        in capsys.readouterr().out
    )
    assert events_of(services, history.old) == 3
    assert main(["purge", *flags]) == 0
    assert f"purged {expected.events} events" in capsys.readouterr().out
    assert events_of(services, history.old) == 0
