"""Search results kept per process by query, top_k and knowledge-base version (a bounded LRU).

The version is part of the key and changes with every index change, so a re-index never serves
stale results; `clear` only gives the memory back.
"""

from __future__ import annotations

from collections import OrderedDict

from qna_agent.knowledge.retrieval.hits import SearchHit

CacheKey = tuple[str, int, int]


class QueryCache:
    """The most recent `max_entries` search results."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, list[SearchHit]] = OrderedDict()

    @staticmethod
    def key(query: str, top_k: int, version: int) -> CacheKey:
        """The key of a search: case and spacing of the query do not matter."""
        return " ".join(query.lower().split()), top_k, version

    def get(self, key: CacheKey) -> list[SearchHit] | None:
        """The cached hits of a search, if any (they become the most recent)."""
        hits = self._entries.get(key)
        if hits is not None:
            self._entries.move_to_end(key)
        return hits

    def put(self, key: CacheKey, hits: list[SearchHit]) -> None:
        """Remember the hits of a search, forgetting the least recent beyond the bound."""
        self._entries[key] = hits
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every result (the index changed)."""
        self._entries.clear()
