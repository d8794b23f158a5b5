"""Login throttling: wrong passwords for one account, or from one address, make the next try wait,
with a growing delay and a 429 that says how long (``Retry-After``); the state is in the database,
so every replica enforces it, and a refused try costs no password hashing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import central.accounts
from central.account_admin import reset_password
from central.accounts import create_user
from central.app import create_app
from central.auth import Role
from central.clock import FrozenClock
from central.db import migrate
from central.services import Services, build_services
from tests.central.conftest import central_config

PASSWORD = "correct horse battery"
FREE = 3
ADDRESS_FREE = 8
LOGIN = "/api/v1/auth/login"


@pytest.fixture
def services(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    config = central_config(
        database_url,
        tmp_path,
        **{"login.free_attempts": FREE, "login.address_free_attempts": ADDRESS_FREE, "login.max_delay_s": 60},
    )
    built = build_services(config, clock, with_ingest=False)
    migrate(built.engine)
    with built.sessions.begin() as session:
        create_user(session, "alice", PASSWORD, Role.operator, None)
        create_user(session, "bob", PASSWORD, Role.operator, None)
    yield built
    built.close()


def client_from(services: Services, address: str) -> TestClient:
    return TestClient(create_app(services), client=(address, 40000))


def attempt(client: TestClient, username: str, password: str) -> tuple[int, int | None, str]:
    """Status, Retry-After (seconds, if any) and the detail of one login."""
    response = client.post(LOGIN, json={"username": username, "password": password})
    retry = response.headers.get("retry-after")
    detail = response.json().get("detail", "") if response.status_code != 200 else ""
    return response.status_code, int(retry) if retry is not None else None, str(detail)


@pytest.fixture
def hashing(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The passwords scrypt was run on (the real function still runs)."""
    seen: list[str] = []
    real = central.accounts.verify_password

    def counting(password: str, stored: str) -> bool:
        seen.append(password)
        return real(password, stored)

    monkeypatch.setattr(central.accounts, "verify_password", counting)
    return seen


def test_wrong_passwords_make_the_account_wait_longer_each_time(
    services: Services, clock: FrozenClock, hashing: list[str]
) -> None:
    client = client_from(services, "10.0.0.1")
    for _ in range(FREE - 1):
        assert attempt(client, "alice", "wrong-password")[0] == 401
    assert attempt(client, "alice", "wrong-password")[0] == 401  # the last free try: it starts the wait
    status, first_wait, detail = attempt(client, "alice", PASSWORD)
    assert status == 429
    assert first_wait is not None
    assert first_wait >= 1
    assert "too many failed logins" in detail
    assert f"{first_wait} s" in detail
    assert hashing.count(PASSWORD) == 0, "a throttled try must not cost a password hash"

    clock.advance(timedelta(seconds=first_wait))
    assert attempt(client, "alice", "wrong-again")[0] == 401
    status, second_wait, _ = attempt(client, "alice", PASSWORD)
    assert status == 429
    assert second_wait is not None
    assert second_wait > first_wait

    clock.advance(timedelta(seconds=second_wait))
    assert attempt(client, "alice", PASSWORD)[0] == 200
    client.cookies.clear()
    # a success forgets the account's failures: the free tries are back
    for _ in range(FREE - 1):
        assert attempt(client, "alice", "wrong-password")[0] == 401
    assert attempt(client, "alice", PASSWORD)[0] == 200


def test_the_wait_is_capped_at_max_delay(services: Services, clock: FrozenClock) -> None:
    client = client_from(services, "10.0.0.2")
    waits = []
    for _ in range(24):
        status, wait, _ = attempt(client, "alice", "wrong-password")
        if status == 429:
            assert wait is not None
            waits.append(wait)
            clock.advance(timedelta(seconds=wait))
    assert waits[:3] == [1, 2, 4]
    assert waits[-2:] == [60, 60]
    assert waits == sorted(waits)


def test_one_account_throttled_leaves_others_alone(services: Services) -> None:
    client = client_from(services, "10.0.0.3")
    for _ in range(FREE):
        attempt(client, "alice", "wrong-password")
    assert attempt(client, "alice", PASSWORD)[0] == 429
    assert attempt(client, "bob", PASSWORD)[0] == 200


def test_an_address_that_guesses_across_accounts_is_throttled(
    services: Services, clock: FrozenClock, hashing: list[str]
) -> None:
    guesser, other = client_from(services, "10.0.0.4"), client_from(services, "10.0.0.5")
    for i in range(ADDRESS_FREE):
        assert attempt(guesser, f"user{i}", "guess")[0] == 401
    status, wait, _ = attempt(guesser, "bob", PASSWORD)
    assert status == 429
    assert wait is not None
    assert wait >= 1
    assert hashing.count(PASSWORD) == 0
    assert attempt(other, "bob", PASSWORD)[0] == 200, "another address is not affected"
    clock.advance(timedelta(seconds=wait))
    assert attempt(guesser, "bob", PASSWORD)[0] == 200


def test_wrong_tokens_count_against_the_address(services: Services) -> None:
    client = client_from(services, "10.0.0.6")
    for _ in range(ADDRESS_FREE):
        assert client.post(LOGIN, json={"token": "gw_not-a-real-token"}).status_code == 401
    refused = client.post(LOGIN, json={"token": "gw_not-a-real-token"})
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1


def test_replicas_share_the_throttle_through_the_database(services: Services, clock: FrozenClock) -> None:
    """Two apps on one database stand for two replicas behind a load balancer."""
    other_replica = build_services(services.config, clock, with_ingest=False)
    try:
        first, second = client_from(services, "10.0.0.7"), client_from(other_replica, "10.0.0.7")
        for i in range(FREE):
            assert attempt(first if i % 2 else second, "alice", "wrong-password")[0] == 401
        assert attempt(first, "alice", PASSWORD)[0] == 429
        assert attempt(second, "alice", PASSWORD)[0] == 429
    finally:
        other_replica.close()


def test_a_password_reset_by_an_admin_lifts_the_wait(services: Services) -> None:
    client = client_from(services, "10.0.0.8")
    for _ in range(FREE):
        attempt(client, "alice", "wrong-password")
    assert attempt(client, "alice", PASSWORD)[0] == 429
    with services.sessions.begin() as session:
        reset_password(session, "alice", "a new password!", actor="cli:test")
    assert attempt(client, "alice", "a new password!")[0] == 200
