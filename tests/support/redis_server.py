"""Redis for tests that share state between processes."""

from __future__ import annotations

import os

import pytest


def redis_url_or_skip() -> str:
    """TEST_REDIS_URL when Redis answers there; otherwise skip, or fail when REQUIRE_REDIS=1."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but Redis at {url} is unreachable: {exc}")
        pytest.skip(f"needs Redis at {url} (TEST_REDIS_URL): {exc}")
    return url
