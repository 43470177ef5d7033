"""FastAPI dependencies shared by the routers: services and the authenticated account."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from imagine.accounts import repository as accounts_repo
from imagine.accounts.keys import parse_authorization
from imagine.auth_gate import ACCOUNT_SCOPE_KEY
from imagine.db.schema import Account
from imagine.errors import Unauthorized
from imagine.services import Services


def get_services(request: Request) -> Services:
    """The app's services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_account(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="API key, raw or Bearer")] = None,
) -> Account:
    """The account owning the request's API key, or 401 `{}`."""
    gated = request.scope.get("state", {}).get(ACCOUNT_SCOPE_KEY)
    if isinstance(gated, Account):
        return gated  # already resolved by AuthGateMiddleware, before the body was read
    key = parse_authorization(authorization)
    if key is None:
        raise Unauthorized()
    async with services.sessions() as session:
        account = await accounts_repo.account_for_key(session, key)
    if account is None:
        raise Unauthorized()
    return account


AccountDep = Annotated[Account, Depends(current_account)]
