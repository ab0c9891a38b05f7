"""Retrieval quality: recall@k, MRR and nDCG@10 over a dataset of questions and gold documents.

Dataset lines are JSON objects: `{"question": "...", "gold": ["refund-policy.md", ...]}`.
Rankings are of documents (the first passage of each document counts), so chunking changes
are judged by whether the right document is found, not by which slice of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CUTOFFS = (1, 5, 10)


@dataclass(frozen=True, slots=True)
class Question:
    """One evaluation item."""

    question: str
    gold: frozenset[str]


class DatasetError(ValueError):
    """The dataset file is malformed; the message names the line."""


def load_dataset(path: Path) -> list[Question]:
    """Read a JSONL dataset, refusing malformed lines with their number."""
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            question, gold = data["question"], data["gold"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}:{number}: expected question and gold ({exc})") from None
        if not isinstance(question, str) or not isinstance(gold, list) or not gold:
            raise DatasetError(f"{path}:{number}: question must be text, gold a non-empty list")
        items.append(Question(question, frozenset(str(g) for g in gold)))
    if not items:
        raise DatasetError(f"{path}: no questions")
    return items


def documents_in_order(paths: Iterable[str]) -> list[str]:
    """Document paths of ranked passages, each document once, in first-seen order."""
    return list(dict.fromkeys(paths))


def reciprocal_rank(ranking: Sequence[str], gold: frozenset[str]) -> float:
    """1 / rank of the first relevant document (0 if none)."""
    for rank, document in enumerate(ranking, start=1):
        if document in gold:
            return 1.0 / rank
    return 0.0


def recall_at(ranking: Sequence[str], gold: frozenset[str], k: int) -> float:
    """Share of the gold documents found in the top k."""
    return len(gold & set(ranking[:k])) / len(gold)


def ndcg_at(ranking: Sequence[str], gold: frozenset[str], k: int = 10) -> float:
    """Normalised discounted cumulative gain with binary relevance."""
    gain = sum(1 / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], 1) if doc in gold)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return gain / ideal


@dataclass(frozen=True, slots=True)
class Scores:
    """Mean metrics of one retrieval mode over a dataset."""

    recall: dict[int, float]
    mrr: float
    ndcg10: float

    def as_dict(self) -> dict[str, float]:
        """Flat, rounded, for JSON and tables."""
        flat = {f"recall@{k}": round(v, 4) for k, v in self.recall.items()}
        flat.update(mrr=round(self.mrr, 4), **{"ndcg@10": round(self.ndcg10, 4)})
        return flat


def score(rankings: Sequence[Sequence[str]], questions: Sequence[Question]) -> Scores:
    """Mean recall@1/5/10, MRR and nDCG@10 of rankings against the questions' gold."""
    count = len(questions)
    recall = {
        k: sum(recall_at(r, q.gold, k) for r, q in zip(rankings, questions, strict=True)) / count
        for k in CUTOFFS
    }
    mrr = sum(reciprocal_rank(r, q.gold) for r, q in zip(rankings, questions, strict=True)) / count
    ndcg = sum(ndcg_at(r, q.gold) for r, q in zip(rankings, questions, strict=True)) / count
    return Scores(recall, mrr, ndcg)
