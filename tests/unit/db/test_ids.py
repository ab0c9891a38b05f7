"""UUIDv7 ids sort by creation, even within one millisecond."""

from __future__ import annotations

import time

from qna_agent.db.ids import uuid7


def test_version_variant_and_order() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert all(i.version == 7 and i.variant == "specified in RFC 4122" for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert [str(i) for i in ids] == sorted(str(i) for i in ids)


def test_timestamp_is_now() -> None:
    ms = uuid7().int >> 80
    assert abs(ms - time.time() * 1000) < 5_000
