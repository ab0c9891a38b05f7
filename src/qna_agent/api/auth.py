"""Authentication per AUTH_MODE, and the per-principal request rate limit.

`api_key`: `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked against the database on
every request (revocation is immediate). A wrong key counts against its client address
(RATE_LIMIT_AUTH_FAILURES_PER_MINUTE); an address over that limit gets 429 before any lookup.
`gateway`: an upstream auth gateway names the user in a header, believed only when the
connection comes from TRUSTED_PROXIES. `none`: development only, everyone is the local
administrator.
"""

from __future__ import annotations

import ipaddress
import re

from fastapi import Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from qna_agent.config import Settings
from qna_agent.errors import RateLimited, Unauthorized
from qna_agent.security.keys import Principal
from qna_agent.security.ratelimit import Window
from qna_agent.security.setup import Security

ANONYMOUS = "anonymous"
_GATEWAY_USER = re.compile(r"^[A-Za-z0-9._@:+-]{1,200}$")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

bearer_scheme = HTTPBearer(auto_error=False, description="An API key from `qna-agent keys create`.")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same key, in its own header."
)


def _parse_address(text: str) -> IPAddress | None:
    """An address from a peer or an X-Forwarded-For entry (`[v6]:port` and `v4:port` too)."""
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPAddress, settings: Settings) -> bool:
    return any(address in network for network in settings.trusted_proxy_networks)


def _peer_is_trusted(request: Request, settings: Settings) -> bool:
    peer = _parse_address(request.client.host) if request.client is not None else None
    return peer is not None and _trusted(peer, settings)


def client_address(request: Request, settings: Settings) -> str:
    """The caller's address: the peer, or behind TRUSTED_PROXIES the nearest untrusted hop.

    X-Forwarded-For is read from the right: each trusted proxy appended the address it saw,
    and only the entries left of the last trusted hop can be forged by the client. An entry
    that is not an address ends the walk at the last trusted hop, so forgery buys nothing.
    """
    if request.client is None:
        return "unknown"
    peer = _parse_address(request.client.host)
    if peer is None:
        return request.client.host
    address = peer
    forwarded = ",".join(request.headers.getlist("x-forwarded-for")).split(",")
    for entry in reversed(forwarded):
        if not _trusted(address, settings):
            break
        hop = _parse_address(entry)
        if hop is None:
            break
        address = hop
    return str(address)


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
    address = client_address(request, settings)
    blocked = security.auth_failures.blocked(address)
    if blocked is not None:
        raise _too_many_failures(request, blocked)
    key = bearer.credentials if bearer is not None else header_key
    if not key:
        raise Unauthorized("send your API key as `Authorization: Bearer <key>` or `X-API-Key`")
    principal = await security.keys.authenticate(key.strip())
    if principal is not None:
        return principal
    window = await security.auth_failures.failed(address)
    if window is not None and not window.allowed:
        raise _too_many_failures(request, window)
    if window is not None:
        add_response_headers(request, rate_limit_headers(window))
    raise Unauthorized("invalid or revoked API key")


def _too_many_failures(request: Request, window: Window) -> RateLimited:
    add_response_headers(request, rate_limit_headers(window))
    return RateLimited(
        f"{window.limit} requests with a wrong API key came from your address this minute;"
        f" retry in {window.reset_seconds} s",
        retry_after=window.reset_seconds,
        limit=window.limit,
    )


def rate_limit_headers(window: Window) -> dict[str, str]:
    """The RateLimit-* headers of a per-minute window."""
    return {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(window.remaining),
        "RateLimit-Reset": str(window.reset_seconds),
        "RateLimit-Policy": f"{window.limit};w=60",
    }


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
    add_response_headers(request, rate_limit_headers(window))
    if not window.allowed:
        raise RateLimited(
            f"more than {window.limit} requests in a minute; retry in {window.reset_seconds} s",
            retry_after=window.reset_seconds,
            limit=window.limit,
        )
