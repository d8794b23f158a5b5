"""Console accounts: password hashes, ``create-user``, login sessions in an HttpOnly cookie, media
fetched with that cookie (and refused without it), the CSRF header, logout and expiry, and the
actions a caller may take on a ticket."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from central.accounts import (
    AccountError,
    create_user,
    hash_password,
    start_session,
    verify_password,
)
from central.app import create_app
from central.auth import SESSION_COOKIE, Role, authenticate, create_token
from central.cli import main
from central.models import ApiToken, User
from central.services import Services
from contract.event import MediaKind, MediaRef
from contract.topics import Topics
from tests.central.conftest import EXAMPLE, bearer, bearer_only
from tests.central.factories import event

CSRF = {"X-Requested-With": "test"}
PASSWORD = "correct horse battery"


@pytest.fixture
def users(services: Services) -> dict[str, str]:
    with services.sessions.begin() as session:
        create_user(session, "alice", PASSWORD, Role.operator, None)
        create_user(session, "desk", PASSWORD, Role.department, "cg-chongchuan")
        create_user(session, "other-desk", PASSWORD, Role.department, "cg-gangzha")
    return {"alice": PASSWORD, "desk": PASSWORD, "other-desk": PASSWORD}


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]  # httpx types JSON as Any


def evidence(services: Services, client: TestClient, tokens: dict[str, str], district: str) -> str:
    """An uploaded snapshot on a ticket routed by ``district``; returns its URL."""
    body = f"\xff\xd8\xff\xe0 snapshot of {district}".encode("latin-1")
    sha = hashlib.sha256(body).hexdigest()
    upload = client.put(
        f"/api/v1/media/{sha}",
        content=body,
        headers={**bearer(tokens["device"]), "Content-Type": "image/jpeg"},
    )
    assert upload.status_code == 201
    e = event(
        camera=f"cam-{district}",
        district=district,
        device="device",  # the uploading token's device
        media=[MediaRef(kind=MediaKind.snapshot, sha256=sha, bytes=len(body), content_type="image/jpeg")],
    )
    services.intake.event(Topics(services.config.mqtt.topic_prefix).events(e.device_id), e.to_json().encode())
    return f"/api/v1/media/{sha}"


def test_password_hashes_are_salted_scrypt_and_verify_only_the_right_password() -> None:
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first != second
    assert first.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret-pass", first)
    assert verify_password("s3cret-pass", second)
    assert not verify_password("s3cret-Pass", first)
    assert not verify_password("s3cret-pass", "bcrypt$whatever")
    assert not verify_password("x", "garbage")


@pytest.mark.parametrize(
    ("username", "password", "role", "department", "problem"),
    [
        ("bob", "short", Role.operator, None, "at least 8"),
        ("bob smith", PASSWORD, Role.operator, None, "username"),
        ("bob", PASSWORD, Role.device, None, "devices use tokens"),
        ("bob", PASSWORD, Role.department, None, "needs --department"),
        ("bob", PASSWORD, Role.admin, "cg-gangzha", "only department"),
        ("alice", PASSWORD, Role.admin, None, "already exists"),
    ],
)
def test_create_user_refuses_what_does_not_fit(
    services: Services,
    users: dict[str, str],
    username: str,
    password: str,
    role: Role,
    department: str | None,
    problem: str,
) -> None:
    with services.sessions.begin() as session, pytest.raises(AccountError, match=problem):
        create_user(session, username, password, role, department)


def test_the_create_user_command_reads_the_password_from_stdin(
    database_url: str,
    services: Services,
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    common = ["--config", str(EXAMPLE), "--db", database_url, "--data-dir", str(services.config.data_dir)]
    monkeypatch.setattr("sys.stdin", io.StringIO("gangzha-pass-1\n"))
    assert (
        main(
            ["create-user", *common, "--username", "gz", "--role", "department", "--department", "cg-gangzha"]
        )
        == 0
    )
    assert "created user gz" in capsys.readouterr().err
    me = log_in(client, "gz", "gangzha-pass-1")["me"]
    assert (me["name"], me["role"], me["department"], me["live_view"]) == (
        "gz",
        "department",
        "cg-gangzha",
        False,
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("another-pass\n"))
    assert (
        main(["create-user", *common, "--username", "gz2", "--role", "department", "--department", "nowhere"])
        == 2
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["create-user", *common, "--username", "gz3", "--role", "operator"]) == 2
    assert "at least 8" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["create-user", *common, "--username", "gz4", "--role", "operator", "--password", "x"])


def test_login_sets_an_httponly_strict_cookie_and_keeps_the_session_out_of_the_body(
    client: TestClient, users: dict[str, str]
) -> None:
    response = client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=gws_")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie, "plain HTTP: a Secure cookie would never come back"
    session_token = client.cookies[SESSION_COOKIE]
    assert session_token not in response.text
    assert "token" not in response.json()
    assert response.json()["me"]["role"] == "operator"
    assert response.json()["expires_at"]
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/api/v1/auth/me").json()["name"] == "alice"


def test_behind_tls_the_session_cookie_is_secure(services: Services, users: dict[str, str]) -> None:
    with TestClient(create_app(services), base_url="https://gridwatch.example") as secure_client:
        response = secure_client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200
        assert "Secure" in response.headers["set-cookie"]
        logout = secure_client.post("/api/v1/auth/logout", headers=CSRF)
        assert "Secure" in logout.headers["set-cookie"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ({"username": "alice", "password": "wrong-password"}, "application/json", 401),
        ({"username": "nobody", "password": PASSWORD}, "application/json", 401),
        ({"token": "gw_not-a-token"}, "application/json", 401),
        ({"username": "alice"}, "application/json", 422),
        ({"username": "alice", "password": PASSWORD, "token": "gw_x"}, "application/json", 422),
        ({"username": "alice", "password": PASSWORD}, "text/plain", 415),
    ],
)
def test_login_refuses(
    client: TestClient, users: dict[str, str], body: dict[str, str], content_type: str, status: int
) -> None:
    response = client.post(
        "/api/v1/auth/login", content=json.dumps(body), headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert "set-cookie" not in response.headers


def test_a_token_logs_in_a_person_but_never_a_device(client: TestClient, tokens: dict[str, str]) -> None:
    me = client.post("/api/v1/auth/login", json={"token": tokens["cg-chongchuan"]}).json()["me"]
    assert (me["name"], me["department"]) == ("cg-chongchuan", "cg-chongchuan")
    client.cookies.clear()
    assert client.post("/api/v1/auth/login", json={"token": tokens["device"]}).status_code == 401


def test_evidence_needs_a_login_and_the_cookie_is_one(
    client: TestClient, services: Services, tokens: dict[str, str], users: dict[str, str]
) -> None:
    url = evidence(services, client, tokens, "chongchuan")
    assert client.get(url).status_code == 401, "no credentials: refused"
    log_in(client, "alice")
    assert client.get(url).status_code == 200
    ranged = client.get(url, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206
    assert len(ranged.content) == 4
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, "gws_forged")
    assert client.get(url).status_code == 401


def test_department_staff_get_only_their_own_departments_evidence_by_cookie(
    client: TestClient, services: Services, tokens: dict[str, str], users: dict[str, str]
) -> None:
    own, other = (
        evidence(services, client, tokens, "chongchuan"),
        evidence(services, client, tokens, "gangzha"),
    )
    log_in(client, "desk")
    assert client.get(own).status_code == 200
    assert client.get(other).status_code == 403
    listed = client.get("/api/v1/tickets").json()["items"]
    assert {t["department"] for t in listed} == {"cg-chongchuan"}


def test_cookie_writes_need_the_csrf_header_but_bearer_writes_do_not(
    client: TestClient, services: Services, tokens: dict[str, str], users: dict[str, str]
) -> None:
    evidence(services, client, tokens, "chongchuan")
    ticket_id = client.get("/api/v1/tickets", headers=bearer(tokens["admin"])).json()["items"][0]["id"]
    log_in(client, "alice")
    path = f"/api/v1/tickets/{ticket_id}/actions"
    refused = client.post(path, json={"action": "dispatch"})
    assert refused.status_code == 403
    assert "X-Requested-With" in refused.json()["detail"]
    assert client.post(path, json={"action": "dispatch"}, headers=CSRF).status_code == 200
    assert (
        client.post(path, json={"action": "accept"}, headers=bearer(tokens["cg-chongchuan"])).status_code
        == 200
    )


def test_logout_ends_the_session_everywhere(client: TestClient, users: dict[str, str]) -> None:
    log_in(client, "alice")
    token = client.cookies[SESSION_COOKIE]
    assert client.post("/api/v1/auth/logout", headers=CSRF).status_code == 204
    assert client.get("/api/v1/auth/me", headers=bearer_only(token)).status_code == 401


def test_expired_sessions_and_disabled_users_are_refused(services: Services, users: dict[str, str]) -> None:
    with services.sessions.begin() as session:
        alice = session.query(User).filter_by(username="alice").one()
        expired, _ = start_session(session, user_id=alice.id, ttl=timedelta(seconds=-1))
        live, _ = start_session(session, user_id=alice.id)
    with services.sessions() as session:
        assert authenticate(session, expired) is None
        assert authenticate(session, live) is not None
    with services.sessions.begin() as session:
        session.query(User).filter_by(username="alice").one().disabled_at = services.clock.now()
    with services.sessions() as session:
        assert authenticate(session, live) is None


def test_a_short_token_is_for_logged_in_sessions_and_ends_with_them(
    client: TestClient, tokens: dict[str, str], users: dict[str, str]
) -> None:
    assert client.post("/api/v1/auth/short-token", headers=bearer(tokens["operator"])).status_code == 409
    log_in(client, "alice")
    short = client.post("/api/v1/auth/short-token", headers=CSRF).json()
    assert client.get("/api/v1/live/settings", headers=bearer_only(short["token"])).status_code == 200
    # a short token cannot make another one: it ends with the login it came from
    assert client.post("/api/v1/auth/short-token", headers=bearer_only(short["token"])).status_code == 409
    client.post("/api/v1/auth/logout", headers=CSRF)
    assert client.get("/api/v1/auth/me", headers=bearer_only(short["token"])).status_code == 401
    assert client.get("/api/v1/live/settings", headers=bearer_only(short["token"])).status_code == 401


def test_api_tokens_may_expire_and_their_login_sessions_end_with_them(
    client: TestClient, services: Services
) -> None:
    now = datetime.now(UTC)
    with services.sessions.begin() as session:
        lasting = create_token(
            session, services.clock, Role.operator, "lasting", expires_at=now + timedelta(hours=1)
        )
        expired = create_token(
            session, services.clock, Role.operator, "expired", expires_at=now - timedelta(seconds=1)
        )
    assert client.get("/api/v1/auth/me", headers=bearer(lasting)).status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(expired)).status_code == 401
    assert client.post("/api/v1/auth/login", json={"token": expired}).status_code == 401
    login = client.post("/api/v1/auth/login", json={"token": lasting})
    assert login.status_code == 200
    assert datetime.fromisoformat(login.json()["expires_at"]) <= now + timedelta(hours=1, seconds=1), (
        "a session never outlives its token"
    )
    with services.sessions.begin() as session:
        session.scalars(sa.select(ApiToken).where(ApiToken.name == "lasting")).one().expires_at = now
    assert client.get("/api/v1/auth/me").status_code == 401, "the cookie's session ended with its token"


@pytest.mark.parametrize(
    ("holder", "expected"),
    [
        ("operator", {"dispatch", "reject", "mark_duplicate"}),
        ("admin", {"dispatch", "reject", "mark_duplicate"}),
        ("cg-chongchuan", set()),
    ],
)
def test_allowed_actions_come_from_the_transition_table(
    client: TestClient, services: Services, tokens: dict[str, str], holder: str, expected: set[str]
) -> None:
    evidence(services, client, tokens, "chongchuan")
    ticket_id = client.get("/api/v1/tickets", headers=bearer(tokens["admin"])).json()["items"][0]["id"]
    allowed = client.get(f"/api/v1/tickets/{ticket_id}/actions", headers=bearer(tokens[holder])).json()
    assert allowed["status"] == "new"
    assert {a["action"] for a in allowed["actions"]} == expected
    reject = [a for a in allowed["actions"] if a["action"] == "reject"]
    assert all(a["needs_comment"] and a["target"] == "rejected" for a in reject)
    assert (
        client.get(f"/api/v1/tickets/{ticket_id}/actions", headers=bearer(tokens["cg-gangzha"])).status_code
        == 403
    )


def test_the_console_is_served_with_a_strict_content_security_policy(client: TestClient) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/console/"
    page = client.get("/console/")
    assert page.status_code == 200
    assert 'type="module"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for path in (
        "/console/js/app.js",
        "/console/console.css",
        "/console/i18n/zh.json",
        "/console/i18n/en.json",
    ):
        assert client.get(path).status_code == 200, path
