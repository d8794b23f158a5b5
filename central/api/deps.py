"""Dependencies every router shares: the services, a database session, and the caller's identity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from central.auth import STAFF, Principal, Role, authenticate
from central.services import Services

bearer = HTTPBearer(auto_error=False, description="A token made by `gridwatch-central create-token`.")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_session(services: Annotated[Services, Depends(get_services)]) -> Iterator[Session]:
    with services.sessions() as session:
        yield session


def resolve_token(services: Services, token: str | None) -> Principal:
    """The caller for a raw token; 401 when there is none or it is not known."""
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    with services.sessions() as session:
        principal = authenticate(session, token)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def get_principal(
    services: Annotated[Services, Depends(get_services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return resolve_token(services, credentials.credentials if credentials else None)


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only the given roles through (403 for the others)."""

    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"needs one of the roles {allowed}, not {principal.role.value}"
            )
        return principal

    return check


SessionDep = Annotated[Session, Depends(get_session)]
ServicesDep = Annotated[Services, Depends(get_services)]
Staff = Annotated[Principal, Depends(require(*sorted(STAFF)))]
Reader = Annotated[Principal, Depends(require(Role.admin, Role.operator, Role.department))]
Uploader = Annotated[Principal, Depends(require(Role.admin, Role.device))]
