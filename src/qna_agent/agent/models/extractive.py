"""The offline answerer: no key, no network, same loop.

It behaves like a model that always searches first: on a new question it calls the knowledge
tool; given the passages, it answers with the sentences that share most words with the
question, each cited, and says plainly that it does not know when no sentence is close enough.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from qna_agent.agent.tools.knowledge import KNOWLEDGE_TOOL_NAME
from qna_agent.agent.types import ChatMessage, ModelResponse, TextDelta, ToolCall, ToolSpec
from qna_agent.knowledge.retrieval.query_terms import query_terms

DONT_KNOW = (
    "I don't know: the knowledge base has nothing that answers this question. "
    "Try rephrasing it, or ask about something the documents cover."
)
MAX_SENTENCES = 3
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")
_MARKUP = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+|#+\s+|>\s*|\|)|\*\*|__|`")
_SUFFIXES = ("ing", "ed", "es", "ly", "s")

# What a kind of question asks for, and what a sentence answering it tends to contain.
# Words of the question that only say which kind it is ("how LONG") are not matched in text.
_INTENT_WORDS = frozenset({"long", "soon", "quickly", "fast", "much", "cost", "price"})
_INTENTS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (
        re.compile(r"\bhow (long|soon|quickly|fast)\b|\bhow many (days|weeks|hours)\b", re.I),
        re.compile(
            r"\b\d+(?:[-–]\d+)?(?:\s|-)(?:business |working )?"
            r"(?:minutes?|hours?|days?|weeks?|months?|years?)\b",
            re.I,
        ),
    ),
    (
        re.compile(r"\bhow much\b|\bcost|\bprice|\bfee\b|\bcharge", re.I),
        re.compile(r"[€£$]\s?\d|\b\d+(?:\.\d+)?\s?(?:EUR|GBP|USD)\b|\bfree\b", re.I),
    ),
    (
        re.compile(r"\bwhen\b|\bwhat time\b|\bhours\b", re.I),
        re.compile(
            r"\b\d{1,2}[:.]\d{2}\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|"
            r"\b\d+\s(?:business |working )?(?:days?|hours?)\b",
            re.I,
        ),
    ),
)
INTENT_BONUS = 0.25
DENSITY_WEIGHT = 0.3


def _answer_patterns(question: str) -> list[re.Pattern[str]]:
    return [answer for pattern, answer in _INTENTS if pattern.search(question)]


def stem(word: str) -> str:
    """A crude English stem: enough to match return/returns/returned."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]
    return word


def _stems(text: str) -> set[str]:
    return {stem(term) for term in query_terms(text)}


@dataclass(frozen=True, slots=True)
class _Candidate:
    overlap: float
    rank: int
    order: int
    ref: int
    text: str


def _sentences(passage: str) -> list[str]:
    out = []
    for raw in _SENTENCE_SPLIT.split(passage):
        line = _MARKUP.sub("", raw).strip().strip("|").strip()
        if len(line) >= 12 and not line.startswith(("```", "~~~")) and not set(line) <= set("-|: "):
            out.append(" ".join(line.split()))
    return out


def compose_answer(question: str, results: list[dict[str, object]], min_overlap: float) -> str:
    """An answer built from the passages' best sentences, cited, or the don't-know text."""
    answer_patterns = _answer_patterns(question)
    wanted = _stems(question)
    if answer_patterns and len(wanted - _INTENT_WORDS) > 0:
        wanted -= _INTENT_WORDS
    if not wanted:
        return DONT_KNOW
    candidates: list[_Candidate] = []
    for rank, result in enumerate(results):
        ref = int(str(result.get("ref", rank + 1)))
        heading_stems = _stems(str(result.get("heading", "")))
        for order, sentence in enumerate(_sentences(str(result.get("text", "")))):
            found = _stems(sentence)
            matched = len(wanted & found)
            overlap = matched / len(wanted)
            # Between equally matching sentences, the more focused one answers better.
            density_bonus = DENSITY_WEIGHT * matched / max(8, len(sentence.split()))
            heading_bonus = 0.1 * len(wanted & heading_stems) / len(wanted)
            if overlap and any(p.search(sentence) for p in answer_patterns):
                overlap += INTENT_BONUS  # the sentence has the kind of fact asked for
            score = overlap + heading_bonus + density_bonus
            candidates.append(_Candidate(score, rank, order, ref, sentence))
    if not candidates:
        return DONT_KNOW
    best = max(candidates, key=lambda c: (c.overlap, -c.rank, -c.order))
    if best.overlap < min_overlap:
        return DONT_KNOW
    floor = max(min_overlap, best.overlap * 0.6)
    supporting = sorted(
        (c for c in candidates if c is not best and c.overlap >= floor),
        key=lambda c: (-c.overlap, c.rank, c.order),
    )[: MAX_SENTENCES - 1]
    # The best sentence leads; the others follow in document order.
    chosen = [best, *sorted(supporting, key=lambda c: (c.rank, c.order))]
    seen: set[str] = set()
    parts = []
    for candidate in chosen:
        if candidate.text in seen:
            continue
        seen.add(candidate.text)
        sentence = candidate.text if candidate.text[-1] in ".!?" else candidate.text + "."
        parts.append(f"{sentence[:-1]} [{candidate.ref}]{sentence[-1]}")
    return " ".join(parts)


class ExtractiveModel:
    """A ChatModel that needs no LLM: search, then quote the best sentences with citations."""

    provider = "extractive"
    model = "extractive"

    def __init__(self, *, min_overlap: float, top_k: int = 8) -> None:
        self.min_overlap = min_overlap
        self.top_k = top_k
        self._calls = 0

    def _respond(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> ModelResponse:
        last_user = max(
            (i for i, message in enumerate(messages) if message.role == "user"), default=None
        )
        if last_user is None:
            return ModelResponse(DONT_KNOW, model=self.model, finish_reason="stop")
        question = messages[last_user].content
        tool_results = [m for m in messages[last_user + 1 :] if m.role == "tool"]
        if not tool_results:
            if any(spec.name == KNOWLEDGE_TOOL_NAME for spec in tools):
                self._calls += 1
                arguments = json.dumps({"query": question, "top_k": self.top_k})
                call = ToolCall(f"call_extractive_{self._calls}", KNOWLEDGE_TOOL_NAME, arguments)
                return ModelResponse("", (call,), model=self.model, finish_reason="tool_calls")
            return ModelResponse(DONT_KNOW, model=self.model, finish_reason="stop")
        results: list[dict[str, object]] = []
        for message in tool_results:
            try:
                payload = json.loads(message.content)
            except json.JSONDecodeError:
                continue
            if isinstance(payload, dict) and isinstance(payload.get("results"), list):
                results.extend(r for r in payload["results"] if isinstance(r, dict))
        answer = compose_answer(question, results, self.min_overlap)
        return ModelResponse(answer, model=self.model, finish_reason="stop")

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        """Answer one step."""
        return self._respond(messages, tools)

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """Answer one step, word by word."""
        response = self._respond(messages, tools)
        for piece in re.findall(r"\S+\s*", response.content):
            yield TextDelta(piece)
        yield response

    async def aclose(self) -> None:
        """Nothing to release."""
