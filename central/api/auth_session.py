"""``/api/v1/auth``: console login and logout, who am I, and the session cookie's middleware.

Browsers cannot put a bearer header on ``<img>``, ``<video>`` or ``EventSource`` requests, so a
login sets an HttpOnly, SameSite=Strict cookie holding the session token, and
``SessionCookieAuth`` hands it to every route as if it were a bearer token. Requests that carry a
real ``Authorization`` header are left alone. The login's answer does not repeat the token: no
script ever reads the long-lived session (scripts use API tokens; the live page a short token).
The cookie is ``Secure`` whenever the request came over TLS, directly or through a trusted proxy
that says so (``http.trusted_proxies``). Against cross-site request forgery, a request
authenticated by the cookie that changes anything must also carry ``X-Requested-With`` (a header
no cross-site form can set, and which cross-origin scripts cannot send without a CORS grant this
service never gives); the login itself accepts only JSON bodies, for the same reason. Failed
logins are throttled per account and per client address (``central.throttle``): 429 with
``Retry-After``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from central.accounts import SESSION_TTL, end_session, login_with_password, login_with_token, short_token
from central.api.deps import Reader, ServicesDep, SessionDep
from central.api.schemas import NoNul
from central.auth import SESSION_COOKIE, SESSION_PREFIX, STAFF, Principal, Role
from central.throttle import LoginThrottle, Throttled

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-Requested-With"
LOGIN_MAX_BYTES = 8 * 1024
"""A login body is a name and a password, or a token (256 characters each at most)."""

Secret = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NoNul)]


class LoginIn(BaseModel):
    """Either a username and password, or an API token (from ``create-token``)."""

    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NoNul)] | None = None
    password: Secret | None = None
    token: Secret | None = None

    @model_validator(mode="after")
    def _one_way(self) -> LoginIn:
        by_password = self.username is not None and self.password is not None
        if by_password == (self.token is not None):
            raise ValueError("give either username and password, or token")
        return self


class DepartmentOut(BaseModel):
    id: str
    name: str


class Me(BaseModel):
    name: str
    role: Role
    department: str | None
    live_view: bool = Field(description="Whether this role may open cameras' live view.")
    departments: list[DepartmentOut] = Field(description="Every department tickets can go to.")


class LoginOut(BaseModel):
    expires_at: datetime = Field(description="When the session (held in the HttpOnly cookie) ends.")
    me: Me


class ShortTokenOut(BaseModel):
    token: str
    expires_at: datetime
    token_type: Literal["bearer"] = "bearer"


def me_of(principal: Principal, services: ServicesDep) -> Me:
    return Me(
        name=principal.name,
        role=principal.role,
        department=principal.department,
        live_view=principal.role in STAFF,
        departments=[DepartmentOut(id=d.id, name=d.name) for d in services.config.departments],
    )


def _require_json(request: Request) -> None:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "log in with a JSON body (application/json)"
        )


@router.post(
    "/login",
    response_model=LoginOut,
    dependencies=[Depends(_require_json)],
    responses={
        401: {"description": "Wrong username or password, or unknown token"},
        429: {
            "description": "Too many failed logins for this account or from this address; "
            "Retry-After says how many seconds to wait"
        },
    },
    summary="Log in; sets the session cookie",
)
def login(body: LoginIn, request: Request, response: Response, services: ServicesDep) -> LoginOut:
    throttle = LoginThrottle(services.sessions, services.config.login, services.clock)
    keys = throttle.keys(
        body.username if body.token is None else None, request.client.host if request.client else None
    )
    try:
        throttle.admit(keys)
    except Throttled as err:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, str(err), headers={"Retry-After": str(err.retry_after_s)}
        ) from err
    with services.sessions.begin() as session:
        if body.token is not None:
            result = login_with_token(session, body.token)
        else:
            result = login_with_password(session, body.username or "", body.password or "")
    if result is None:
        what = "unknown or revoked token" if body.token is not None else "wrong username or password"
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, what)
    throttle.succeeded(keys)
    token, expires_at, principal = result
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=_over_tls(request),
    )
    response.headers["Cache-Control"] = "no-store"
    return LoginOut(expires_at=expires_at, me=me_of(principal, services))


@router.post(
    "/logout", status_code=status.HTTP_204_NO_CONTENT, summary="End this login session (and its short tokens)"
)
def logout(request: Request, services: ServicesDep) -> Response:
    token = _session_token(request)
    if token is not None:
        with services.sessions.begin() as session:
            end_session(session, token)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_over_tls(request)
    )
    return response


def _over_tls(request: Request) -> bool:
    """The scheme uvicorn saw, or the one a trusted proxy reported in X-Forwarded-Proto."""
    return request.url.scheme == "https"


@router.get(
    "/me", response_model=Me, summary="Who the caller is, and what the console needs to know about it"
)
def me(principal: Reader, services: ServicesDep) -> Me:
    return me_of(principal, services)


@router.post(
    "/short-token",
    response_model=ShortTokenOut,
    summary="A bearer token for 15 minutes, for pages "
    "that must send a header (the live-view page); needs a login session, and ends with it",
    responses={
        409: {
            "description": "The caller did not log in (an API token needs no short token), "
            "or is itself a short token"
        }
    },
)
def make_short_token(request: Request, _principal: Reader, session: SessionDep) -> ShortTokenOut:
    token = _session_token(request)
    with session.begin():
        made = short_token(session, token) if token is not None else None
    if made is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "only a login session can ask for a short token")
    return ShortTokenOut(token=made[0], expires_at=made[1])


def _session_token(request: Request) -> str | None:
    """The session token the request was authenticated with (cookie or bearer), if it was a session."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else request.cookies.get(SESSION_COOKIE, "")
    return token if token.startswith(SESSION_PREFIX) else None


class SessionCookieAuth:
    """ASGI middleware: a request without an Authorization header but with the session cookie is
    authenticated by the cookie, as a bearer token; unsafe methods then also need ``X-Requested-With``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        token = (
            cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
            if "authorization" not in headers
            else None
        )
        if not token or not token.startswith(SESSION_PREFIX) or not token.isascii():
            await self.app(scope, receive, send)
            return
        if scope["method"] not in SAFE_METHODS and CSRF_HEADER.lower() not in headers:
            refusal = JSONResponse(
                {"detail": f"a request authenticated by the session cookie must send {CSRF_HEADER}"},
                status_code=status.HTTP_403_FORBIDDEN,
            )
            await refusal(scope, receive, send)
            return
        authorised = {**scope, "headers": [*scope["headers"], (b"authorization", f"Bearer {token}".encode())]}
        await self.app(authorised, receive, send)
