"""Settings of authentication, browser access, rate limits, quotas and idempotency."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from qna_agent.config.base import SettingsGroup, split_list


class SecuritySettings(SettingsGroup):
    """Who may call the service, from where, and how much."""

    auth_mode: Literal["api_key", "gateway", "none"] | None = Field(
        None,
        description="`api_key` (Bearer or X-API-Key), `gateway` (trust a user header from "
        "TRUSTED_PROXIES) or `none` (development only; refused in production). Default: `none` "
        "in development, `api_key` otherwise.",
    )
    api_keys_file: Path | None = Field(
        None,
        description="File of bootstrap keys, one `name:role:key` per line (a mounted secret); "
        "read at start, in addition to keys made with `qna-agent keys create`.",
    )
    gateway_user_header: str = Field(
        "X-Forwarded-User",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="AUTH_MODE=gateway: header carrying the authenticated user id.",
    )
    gateway_role_header: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="AUTH_MODE=gateway: header carrying the role (`admin` or `user`); unset "
        "means every gateway user is a `user`.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses/CIDRs of your proxies (e.g. `10.0.0.0/8`). "
        "AUTH_MODE=gateway: only they may set the user header; requests from elsewhere get 401. "
        "Any mode: their `X-Forwarded-For` names the client address for the failed-key limit.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser "
        "(`https://app.example.com`); empty: no cross-origin access.",
    )
    redis_url: SecretStr | None = Field(
        None,
        description="Redis for rate limits shared by several replicas (`redis://host:6379/0`); "
        "unset: limits are kept in each process's memory.",
    )
    rate_limit_requests_per_minute: int = Field(
        120, ge=0, description="Requests per minute per principal (0: unlimited)."
    )
    rate_limit_tokens_per_day: int = Field(
        1_000_000, ge=0, description="LLM tokens per UTC day per principal (0: unlimited)."
    )
    rate_limit_auth_failures_per_minute: int = Field(
        30,
        ge=0,
        description="Requests with a wrong (unknown or revoked) API key per client address and "
        "minute; beyond it the address gets 429 until the minute ends, without a key lookup "
        "(0: unlimited). IPv6 addresses count by /64.",
    )
    max_chats_per_principal: int = Field(
        1000, ge=1, description="Chats one principal may keep; more gets 409."
    )
    max_messages_per_chat: int = Field(
        1000, ge=2, description="Messages (questions and answers) one chat may hold; more: 409."
    )
    max_streams_per_principal: int = Field(
        4, ge=1, description="Concurrent streamed answers per principal (per process); more: 429."
    )
    idempotency_ttl_seconds: int = Field(
        86_400, ge=60, description="How long an `Idempotency-Key` is remembered."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in split_list(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: str) -> str:
        for origin in split_list(value):
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @model_validator(mode="after")
    def _auth_safe_in_production(self) -> Self:
        if self.environment == "production" and self.auth_mode == "none":
            raise ValueError("AUTH_MODE=none is for local development; refused in production")
        if self.resolved_auth_mode == "gateway" and not self.trusted_proxies.strip():
            raise ValueError("AUTH_MODE=gateway needs TRUSTED_PROXIES (the gateway's addresses)")
        return self

    @property
    def resolved_auth_mode(self) -> Literal["api_key", "gateway", "none"]:
        """The authentication mode in effect."""
        if self.auth_mode is not None:
            return self.auth_mode
        return "none" if self.environment == "development" else "api_key"

    @property
    def cors_origin_list(self) -> list[str]:
        """CORS_ORIGINS as a list."""
        return split_list(self.cors_origins)

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """TRUSTED_PROXIES as networks."""
        return [ipaddress.ip_network(p, strict=False) for p in split_list(self.trusted_proxies)]
