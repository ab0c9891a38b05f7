"""Which address a failed authentication is counted against."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from qna_agent.api.auth import client_address
from qna_agent.config import Settings
from qna_agent.security.auth_failures import address_bucket


def request_from(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("192.0.2.1", "203.0.113.1", "192.0.2.1"),  # untrusted peer: header ignored
        ("10.0.0.1", None, "10.0.0.1"),  # a trusted peer that forwarded nothing
        ("10.0.0.1", "203.0.113.1, 10.0.0.2", "203.0.113.1"),
        ("10.0.0.1", "198.51.100.1, 203.0.113.1", "203.0.113.1"),  # left of it: forgeable
        ("10.0.0.1", "[2001:db8::1]:443", "2001:db8::1"),
        ("10.0.0.1", "203.0.113.1:8080", "203.0.113.1"),
        ("10.0.0.1", "203.0.113.1, unknown", "10.0.0.1"),  # garbage stops at the last trusted hop
        ("10.0.0.1", "10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all trusted: the first hop
    ],
)
def test_client_address(peer: str, forwarded: str | None, expected: str) -> None:
    settings = Settings(_env_file=None, environment="test", trusted_proxies="10.0.0.0/8")
    assert client_address(request_from(peer, forwarded), settings) == expected


def test_ipv6_addresses_count_by_their_64() -> None:
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("2001:db8:1:2:bbbb::9")
    assert address_bucket("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_bucket("2001:db8:1:3::1") != address_bucket("2001:db8:1:2::1")
    assert address_bucket("::ffff:192.0.2.4") == "192.0.2.4"
    assert address_bucket("198.51.100.7") == "198.51.100.7"
