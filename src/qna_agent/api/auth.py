"""Authentication per AUTH_MODE, and the per-principal request rate limit.

`api_key`: `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked against the database on
every request (revocation is immediate). `gateway`: an upstream auth gateway names the user in
a header, believed only when the connection comes from TRUSTED_PROXIES. `none`: development
only, everyone is the local administrator.
"""

from __future__ import annotations

import ipaddress
import re

from fastapi import Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from qna_agent.config import Settings
from qna_agent.errors import RateLimited, Unauthorized
from qna_agent.security.keys import Principal
from qna_agent.security.setup import Security

ANONYMOUS = "anonymous"
_GATEWAY_USER = re.compile(r"^[A-Za-z0-9._@:+-]{1,200}$")

bearer_scheme = HTTPBearer(auto_error=False, description="An API key from `qna-agent keys create`.")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same key, in its own header."
)


def _peer_is_trusted(request: Request, settings: Settings) -> bool:
    if request.client is None:
        return False
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    return any(address in network for network in settings.trusted_proxy_networks)


def gateway_principal(request: Request, settings: Settings) -> Principal:
    """The user named by a trusted gateway."""
    if not _peer_is_trusted(request, settings):
        raise Unauthorized("requests must come through the authentication gateway")
    user = request.headers.get(settings.gateway_user_header, "")
    if not _GATEWAY_USER.match(user):
        raise Unauthorized(f"the gateway sent no valid {settings.gateway_user_header} header")
    role_header = settings.gateway_role_header
    role = request.headers.get(role_header, "") if role_header else ""
    return Principal(user, "admin" if role.strip().lower() == "admin" else "user")


async def authenticate(
    request: Request,
    settings: Settings,
    security: Security,
    bearer: HTTPAuthorizationCredentials | None,
    header_key: str | None,
) -> Principal:
    """Who is calling, or Unauthorized."""
    mode = settings.resolved_auth_mode
    if mode == "none":
        return Principal(ANONYMOUS, "admin")
    if mode == "gateway":
        return gateway_principal(request, settings)
    key = bearer.credentials if bearer is not None else header_key
    if not key:
        raise Unauthorized("send your API key as `Authorization: Bearer <key>` or `X-API-Key`")
    principal = await security.keys.authenticate(key.strip())
    if principal is None:
        raise Unauthorized("invalid or revoked API key")
    return principal


def add_response_headers(request: Request, headers: dict[str, str]) -> None:
    """Headers for the response, whatever the route returns (SecurityHeadersMiddleware)."""
    pending: dict[str, str] = request.scope.setdefault("state", {}).setdefault(
        "response_headers", {}
    )
    pending.update(headers)


async def count_request(request: Request, security: Security, principal: Principal) -> None:
    """Count the request against the principal's per-minute limit (429 beyond it)."""
    window = await security.limiter.hit(principal.id)
    if window is None:
        return
    headers = {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(window.remaining),
        "RateLimit-Reset": str(window.reset_seconds),
        "RateLimit-Policy": f"{window.limit};w=60",
    }
    add_response_headers(request, headers)
    if not window.allowed:
        raise RateLimited(
            f"more than {window.limit} requests in a minute; retry in {window.reset_seconds} s",
            retry_after=window.reset_seconds,
            limit=window.limit,
        )
