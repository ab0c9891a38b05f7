"""Reciprocal rank fusion of the lexical and dense result lists."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fused:
    """A chunk's place after fusion, with the scores it came with."""

    chunk_id: int
    score: float
    lexical_score: float | None
    vector_score: float | None


def reciprocal_rank_fusion(
    lexical: list[tuple[int, float]], dense: list[tuple[int, float]], *, k: int = 60
) -> list[Fused]:
    """Fuse two ranked lists (best first): score = sum of 1 / (k + rank)."""
    scores: dict[int, float] = {}
    lexical_scores = dict(lexical)
    dense_scores = dict(dense)
    for ranking in (lexical, dense):
        for rank, (chunk_id, _) in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [
        Fused(chunk_id, round(score, 6), lexical_scores.get(chunk_id), dense_scores.get(chunk_id))
        for chunk_id, score in ordered
    ]
