"""``gridwatch-central tokens ...`` and ``users ...``: list, revoke and expire API tokens, disable users and
reset their passwords; every change is written to the account audit log."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.accounts import create_user
from central.auth import SESSION_COOKIE, Role
from central.cli import main
from central.models import AccountAudit, ApiToken
from central.services import Services
from tests.central.conftest import EXAMPLE, bearer, bearer_only

PASSWORD = "correct horse battery"


@pytest.fixture
def common(database_url: str, services: Services) -> list[str]:
    return ["--config", str(EXAMPLE), "--db", database_url, "--data-dir", str(services.config.data_dir)]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def audit(services: Services) -> list[tuple[str, str, str]]:
    with services.sessions() as session:
        return [
            (a.action, a.target, a.actor)
            for a in session.scalars(sa.select(AccountAudit).order_by(AccountAudit.id))
        ]


def token_id(services: Services, name: str) -> str:
    with services.sessions() as session:
        return str(session.scalars(sa.select(ApiToken.id).where(ApiToken.name == name)).one())


def test_create_token_with_an_expiry_then_list_it(
    common: list[str], services: Services, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "create-token", *common, "--role", "operator", "--name", "night shift", "--expires", "12h"
    )
    token = out.strip().splitlines()[-1]
    assert code == 0
    assert client.get("/api/v1/auth/me", headers=bearer(token)).status_code == 200
    code, out, _ = run(capsys, "tokens", "list", *common)
    [row] = [line for line in out.splitlines() if "night shift" in line]
    expected = (datetime.now(UTC) + timedelta(hours=12)).strftime("%Y-%m-%d")
    assert code == 0
    assert "operator" in row
    assert "active" in row
    assert expected in row
    assert token not in out, "the list never shows a token"
    assert ("token created", f"token {token_id(services, 'night shift')} (night shift)") in [
        (action, target) for action, target, _ in audit(services)
    ]


def test_revoking_a_token_refuses_it_and_its_login_sessions(
    common: list[str],
    services: Services,
    client: TestClient,
    tokens: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert client.post("/api/v1/auth/login", json={"token": tokens["operator"]}).status_code == 200
    ident = token_id(services, "operator")
    code, _, err = run(capsys, "tokens", "revoke", ident, *common, "--actor", "ops-lead")
    assert code == 0
    assert f"revoked token {ident}" in err
    assert client.get("/api/v1/auth/me", headers=bearer_only(tokens["operator"])).status_code == 401
    assert client.get("/api/v1/auth/me").status_code == 401, "the session made from the token ends too"
    assert ("token revoked", f"token {ident} (operator)", "ops-lead") in audit(services)
    code, out, _ = run(capsys, "tokens", "list", *common)
    assert "revoked" in next(line for line in out.splitlines() if line.split()[0] == ident)
    assert run(capsys, "tokens", "revoke", "99999", *common)[0] == 2


def test_expiring_a_token_now_or_later(
    common: list[str],
    services: Services,
    client: TestClient,
    tokens: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    admin, device = token_id(services, "admin"), token_id(services, "device")
    assert run(capsys, "tokens", "expire", device, *common)[0] == 0
    assert client.get("/api/v1/auth/me", headers=bearer(tokens["device"])).status_code == 401
    assert run(capsys, "tokens", "expire", admin, "--at", "2099-01-01", *common)[0] == 0
    assert client.get("/api/v1/auth/me", headers=bearer(tokens["admin"])).status_code == 200
    _, out, _ = run(capsys, "tokens", "list", *common)
    assert "2099-01-01" in next(line for line in out.splitlines() if line.split()[0] == admin)
    assert "expired" in next(line for line in out.splitlines() if line.split()[0] == device)
    assert [action for action, _, _ in audit(services)] == ["token expiry set", "token expiry set"]
    with pytest.raises(SystemExit):
        main(["tokens", "expire", admin, "--at", "next tuesday", *common])


def test_disabling_a_user_ends_their_sessions_and_refuses_logins(
    common: list[str], services: Services, client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with services.sessions.begin() as session:
        create_user(session, "alice", PASSWORD, Role.operator, None)
    assert (
        client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    )
    code, _, err = run(capsys, "users", "disable", "alice", *common)
    assert code == 0
    assert "disabled user alice" in err
    assert client.get("/api/v1/auth/me").status_code == 401
    client.cookies.clear()
    assert (
        client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    )
    assert run(capsys, "users", "enable", "alice", *common)[0] == 0
    assert (
        client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    )
    assert [action for action, target, _ in audit(services) if target == "user alice"] == [
        "user disabled",
        "user enabled",
    ]
    assert run(capsys, "users", "disable", "nobody", *common)[0] == 2


def test_reset_password_reads_stdin_and_ends_the_old_sessions(
    common: list[str],
    services: Services,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with services.sessions.begin() as session:
        create_user(session, "alice", PASSWORD, Role.operator, None)
    assert (
        client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 200
    )
    old_session = client.cookies[SESSION_COOKIE]
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    code, _, err = run(capsys, "users", "reset-password", "alice", *common)
    assert code == 0
    assert "new password for alice" in err
    assert client.get("/api/v1/auth/me", headers=bearer_only(old_session)).status_code == 401
    client.cookies.clear()
    assert (
        client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}).status_code == 401
    )
    assert (
        client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": "a brand new password"}
        ).status_code
        == 200
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, "users", "reset-password", "alice", *common)
    assert code == 2
    assert "at least 8" in err
    assert [action for action, _, _ in audit(services)] == ["password reset"]


@pytest.mark.parametrize("name", [None, "edge box 7", ""])
def test_a_device_token_needs_its_device_id_as_name(
    common: list[str], services: Services, name: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """A device's uploads are recorded under its token's name: a token named otherwise would hide its evidence."""
    code, out, err = run(
        capsys, "create-token", *common, "--role", "device", *(["--name", name] if name is not None else [])
    )
    assert code != 0
    assert out == ""
    assert "--name DEVICE_ID" in err
    code, out, _ = run(capsys, "create-token", *common, "--role", "device", "--name", "town-centre-01")
    assert code == 0
    assert out.strip()
    assert token_id(services, "town-centre-01")
