"""The security parts of the service, built from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from qna_agent.config import Settings
from qna_agent.db.engine import Database
from qna_agent.security.auth_failures import AuthFailureLimiter
from qna_agent.security.budget import TokenBudget
from qna_agent.security.keys import KeyStore
from qna_agent.security.ratelimit import ConcurrencySlots, RateLimiter, build_counter


@dataclass(slots=True)
class Security:
    """Key checks, rate limits, the token budget and stream slots."""

    keys: KeyStore
    limiter: RateLimiter
    budget: TokenBudget
    auth_failures: AuthFailureLimiter
    streams: ConcurrencySlots

    async def aclose(self) -> None:
        """Release the limiters' connections (they share one counter)."""
        await self.limiter.aclose()


def build_security(settings: Settings, database: Database) -> Security:
    """Wire the security parts (reads API_KEYS_FILE; no network I/O)."""
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    counter = build_counter(redis_url)
    return Security(
        keys=KeyStore(database, key_file=settings.api_keys_file),
        limiter=RateLimiter(
            counter,
            requests_per_minute=settings.rate_limit_requests_per_minute,
        ),
        budget=TokenBudget(counter, tokens_per_day=settings.rate_limit_tokens_per_day),
        auth_failures=AuthFailureLimiter(
            counter, per_minute=settings.rate_limit_auth_failures_per_minute
        ),
        streams=ConcurrencySlots(settings.max_streams_per_principal),
    )
