"""The HTTP edge of the central service under attack: request bodies limited per route before they are
read, security headers on every kind of response, and Secure cookies behind a TLS-terminating proxy.

The body and proxy tests run the app under a real uvicorn (``server_options``, as ``serve`` does) and
talk to it over a socket, since the point is what the server reads and which headers it believes.
"""

from __future__ import annotations

import hashlib
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from central.accounts import create_user
from central.auth import Role
from central.clock import FrozenClock
from central.db import migrate
from central.services import Services, build_services
from tests.central.conftest import bearer, central_config
from tests.central.serving import running

PASSWORD = "correct horse battery"
FORTY_MIB = 40 * 1024 * 1024


def raw_request(base: str, head: str, body_chunks: Iterator[bytes] | None = None) -> tuple[str, int]:
    """Send ``head``, then ``body_chunks`` until the server answers or stops reading; the answer (what came
    within 10 s) and the body bytes sent."""
    host, port = base.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=2) as sock:
        sock.sendall(head.encode())
        for chunk in body_chunks or iter(()):
            if select.select([sock], [], [], 0)[0]:
                break  # an answer already
            try:
                sock.sendall(chunk)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                break  # the server stopped reading
            sent += len(chunk)
        sock.settimeout(10)
        answer = b""
        try:
            while data := sock.recv(65536):  # the refusal closes the connection
                answer += data
        except (TimeoutError, ConnectionResetError):
            pass
    return answer.decode("latin-1"), sent


@pytest.fixture
def users(services: Services) -> None:
    with services.sessions.begin() as session:
        create_user(session, "alice", PASSWORD, Role.operator, None)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/open311/v2/requests.json", "application/x-www-form-urlencoded"),
        ("/api/v1/auth/login", "application/json"),
    ],
)
def test_a_declared_40_mib_body_is_refused_before_a_byte_of_it_is_read(
    services: Services, path: str, kind: str
) -> None:
    with running(services) as base:
        answer, _ = raw_request(
            base,
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {kind}\r\nContent-Length: {FORTY_MIB}\r\n\r\n",
        )
    assert answer.startswith("HTTP/1.1 413"), answer[:300]
    assert "request body is too large" in answer
    assert "KiB" in answer


def test_a_chunked_body_is_counted_and_cut_off_at_the_limit(services: Services) -> None:
    chunk = b"x" * 65536
    chunks = (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(FORTY_MIB // len(chunk)))
    with running(services) as base:
        answer, sent = raw_request(
            base,
            "POST /open311/v2/requests.json HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            chunks,
        )
    assert answer.startswith("HTTP/1.1 413"), answer[:300]
    assert sent < FORTY_MIB // 2, f"the server read {sent} bytes before refusing"


def test_limits_answer_in_each_routes_own_format(client: TestClient, tokens: dict[str, str]) -> None:
    big_form = {"service_code": "dust", "address_string": "x", "description": "d" * 70000}
    refused = client.post("/open311/v2/requests.json", data={**big_form, "api_key": tokens["admin"]})
    assert refused.status_code == 413
    [error] = refused.json()
    assert error["code"] == 413
    assert "at most 64 KiB" in error["description"]
    chunked = client.post(
        "/api/v1/auth/login",
        content=iter([b"{" + b" " * 9000 + b"}"]),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in chunked.request.headers, "no length declared: the bytes were counted"
    assert chunked.status_code == 413
    assert "at most 8 KiB" in chunked.json()["detail"]
    oversized = client.post(
        "/api/v1/tickets/1/actions",
        content=b"{" + b" " * (300 * 1024) + b"}",
        headers={**bearer(tokens["admin"]), "Content-Type": "application/json"},
    )
    assert oversized.status_code == 413
    assert "at most 256 KiB" in oversized.json()["detail"]


def test_media_uploads_keep_their_own_larger_limit(client: TestClient, tokens: dict[str, str]) -> None:
    body = b"\xff\xd8\xff\xe0" + b"\x00" * (2 * 1024 * 1024)
    sha = hashlib.sha256(body).hexdigest()
    upload = client.put(
        f"/api/v1/media/{sha}",
        content=body,
        headers={**bearer(tokens["device"]), "Content-Type": "image/jpeg"},
    )
    assert upload.status_code == 201, upload.text


def test_every_kind_of_response_carries_security_headers(client: TestClient, tokens: dict[str, str]) -> None:
    body = b"\xff\xd8\xff\xe0 a snapshot"
    sha = hashlib.sha256(body).hexdigest()
    client.put(
        f"/api/v1/media/{sha}",
        content=body,
        headers={**bearer(tokens["device"]), "Content-Type": "image/jpeg"},
    )
    data = {
        "api": client.get("/api/v1/tickets", headers=bearer(tokens["admin"])),
        "refused": client.get("/api/v1/tickets"),
        "media": client.get(f"/api/v1/media/{sha}", headers=bearer(tokens["admin"])),
        "open311": client.get("/open311/v2/services.json"),
        "schema": client.get("/openapi.json"),
    }
    for name, response in data.items():
        headers = response.headers
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["content-security-policy"].startswith("default-src 'none'"), name
        assert "sandbox" in headers["content-security-policy"], name
        assert headers["x-frame-options"] == "DENY", name
    for path in ("/live", "/live/live.js", "/console/", "/console/js/app.js"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "script-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'self'" in headers["content-security-policy"], path
        assert headers["x-frame-options"] == "SAMEORIGIN", path
    assert "'unsafe-inline'" not in client.get("/live").headers["content-security-policy"]
    assert client.get("/docs").headers["x-content-type-options"] == "nosniff"


@pytest.fixture
def untrusting(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[Services]:
    """Services that believe no proxy's headers."""
    built = build_services(
        central_config(database_url, tmp_path, **{"http.trusted_proxies": []}), clock, with_ingest=False
    )
    migrate(built.engine)
    with built.sessions.begin() as session:
        create_user(session, "alice", PASSWORD, Role.operator, None)
    yield built
    built.close()


def log_in_through_proxy(base: str) -> httpx.Response:
    return httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        timeout=10,
    )


def test_behind_a_trusted_tls_proxy_the_session_cookie_is_secure(services: Services, users: None) -> None:
    with running(services) as base:
        direct = httpx.post(
            f"{base}/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}, timeout=10
        )
        proxied = log_in_through_proxy(base)
    assert direct.status_code == 200
    assert "secure" not in direct.headers["set-cookie"].lower()
    assert proxied.status_code == 200
    assert "secure" in proxied.headers["set-cookie"].lower()


def test_an_untrusted_peer_cannot_claim_tls_or_another_address(untrusting: Services) -> None:
    with running(untrusting) as base:
        response = log_in_through_proxy(base)
        assert response.status_code == 200
        assert "secure" not in response.headers["set-cookie"].lower()
        for _ in range(untrusting.config.login.address_free_attempts):
            httpx.post(
                f"{base}/api/v1/auth/login",
                json={"token": "gw_wrong-token"},
                timeout=10,
                headers={"X-Forwarded-For": "198.51.100.7"},
            )
        # the forged X-Forwarded-For was ignored: the guesses counted against the real address
        assert (
            httpx.post(
                f"{base}/api/v1/auth/login",
                json={"token": "gw_wrong-token"},
                timeout=10,
                headers={"X-Forwarded-For": "198.51.100.8"},
            ).status_code
            == 429
        )
