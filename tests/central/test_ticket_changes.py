"""``/api/v1/ticket-changes``: the console's server-sent events, fed by polling the audit log.

The tickets here are opened by ``Intake.event`` (what MQTT ingest calls) and moved by the API,
so the changes reach the stream through the database, as they would from another replica.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from central.api.events_stream import STREAM_S
from central.auth import Principal, Role
from central.changes import ChangeFeed, TicketChange, _Listener
from central.services import Services
from contract.topics import Topics
from tests.central.conftest import bearer
from tests.central.factories import event
from tests.central.serving import serve


def open_ticket(services: Services, district: str = "chongchuan") -> None:
    e = event(camera=f"cam-{district}", district=district)
    topic = Topics(services.config.mqtt.topic_prefix).events(e.device_id)
    assert services.intake.event(topic, e.to_json().encode()).value == "stored"


def sse_messages(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parsed server-sent events: {event, id, data}."""
    message: dict[str, Any] = {}
    for line in lines:
        if not line:
            if message:
                yield message
            message = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            message[name] = json.loads(value) if name == "data" else value.strip()


def collect(
    client: TestClient,
    token: str,
    count: int,
    after: Any,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The first ``count`` messages of a stream; ``after()`` runs once the stream is ready."""
    received: list[dict[str, Any]] = []
    with client.stream(
        "GET", "/api/v1/ticket-changes", headers={**bearer(token), **(headers or {})}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for message in sse_messages(response.iter_lines()):
            received.append(message)
            if message.get("event") == "ready":
                threading.Thread(target=after, daemon=True).start()
            if len(received) >= count:
                break
    return received


def test_a_new_ticket_and_an_action_on_it_are_pushed_to_staff(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    def changes() -> None:
        open_ticket(services)
        ticket_id = client.get("/api/v1/tickets", headers=bearer(tokens["admin"])).json()["items"][0]["id"]
        client.post(
            f"/api/v1/tickets/{ticket_id}/actions",
            headers=bearer(tokens["admin"]),
            json={"action": "dispatch"},
        )

    messages = collect(client, tokens["operator"], 3, changes)
    assert messages[0]["event"] == "ready"
    assert messages[0]["data"] == {"resumed": False}
    assert [(m["event"], m["data"]["action"], m["data"]["to_status"]) for m in messages[1:]] == [
        ("ticket", "open", "new"),
        ("ticket", "dispatch", "dispatched"),
    ]
    assert messages[1]["data"]["department"] == "cg-chongchuan"


def test_department_staff_are_sent_only_their_own_departments_changes(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    def changes() -> None:
        open_ticket(services, district="chongchuan")  # routed to cg-chongchuan
        open_ticket(services, district="gangzha")  # routed to cg-gangzha

    messages = collect(client, tokens["cg-gangzha"], 2, changes)
    assert messages[1]["event"] == "ticket"
    assert messages[1]["data"]["department"] == "cg-gangzha"


def test_without_a_login_the_stream_is_refused(client: TestClient) -> None:
    assert client.get("/api/v1/ticket-changes").status_code == 401


@pytest.mark.parametrize(
    ("last_event_id", "resumed"),
    [(None, False), ("elsewhere:3", False), ("same:1", True), ("same:0", True), ("same:99", False)],
)
def test_a_reconnect_resumes_only_from_this_replicas_own_recent_history(
    services: Services, last_event_id: str | None, resumed: bool
) -> None:
    feed = ChangeFeed(services.sessions)
    feed._epoch = "same"
    feed._cursor = 0
    for audit_id in (1, 2):
        feed._publish(
            audit_id,
            TicketChange(
                ticket_id=audit_id, action="open", to_status="new", department=None, at=datetime.now(UTC)
            ),
        )
    listener = _Listener(Principal("x", Role.operator))
    assert feed._replay(listener, last_event_id) is resumed
    expected = {None: 0, "elsewhere:3": 0, "same:1": 1, "same:0": 2, "same:99": 0}[last_event_id]
    assert listener.queue.qsize() == expected


def test_late_commits_of_skipped_ids_are_still_reported(services: Services) -> None:
    """PostgreSQL may commit id 12 before id 11: 11 is remembered as a gap and reported when it appears."""
    feed = ChangeFeed(services.sessions)
    feed._cursor = 10
    listener = _Listener(Principal("x", Role.operator))
    feed._listeners.add(listener)

    def change(ticket_id: int) -> TicketChange:
        return TicketChange(
            ticket_id=ticket_id, action="open", to_status="new", department=None, at=datetime.now(UTC)
        )

    feed._publish(12, change(12))
    assert feed._gaps.keys() == {11}
    feed._publish(11, change(11))
    feed._publish(12, change(12))
    assert not feed._gaps
    sent = [listener.queue.get_nowait() for _ in range(listener.queue.qsize())]
    assert [item[1].ticket_id for item in sent if not isinstance(item, str)] == [12, 11]


def test_a_served_replica_told_to_stop_ends_open_streams_at_once(database_url: str, tmp_path: Path) -> None:
    """uvicorn waits for open responses before it stops and tells the app nothing; the streams end
    on SIGTERM instead of holding the process for their whole lifetime. The client is a plain
    socket that keeps the stream open as a browser's EventSource does (httpx's streaming client
    happened to let the server go at once even without the fix; a socket held it for 25 s)."""
    with contextlib.ExitStack() as sockets:
        with serve(database_url, tmp_path) as served:
            address = urlsplit(served.base)
            stream = sockets.enter_context(socket.create_connection((address.hostname, address.port)))
            stream.sendall(
                f"GET /api/v1/ticket-changes HTTP/1.1\r\nHost: {address.netloc}\r\n"
                f"Accept: text/event-stream\r\nAuthorization: Bearer {served.tokens['admin']}\r\n\r\n".encode()
            )
            received = b""
            while b"event: ready" not in received:
                received += stream.recv(4096)
            started = time.monotonic()
        stopped_after = (
            time.monotonic() - started
        )  # serve() sent SIGTERM and saw a clean exit; the socket is open
    assert stopped_after < STREAM_S / 2, f"the open stream held the replica for {stopped_after:.1f} s"
