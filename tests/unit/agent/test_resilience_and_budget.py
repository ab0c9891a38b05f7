"""The circuit breaker, backoff delays, Retry-After, prices and the history token budget."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from qna_agent.agent.history import estimate_text_tokens, fit_to_budget, message_tokens
from qna_agent.agent.models.breaker import CircuitBreaker, UpstreamUnavailable
from qna_agent.agent.models.openai_errors import parse_retry_after
from qna_agent.agent.models.retry import RetryPolicy, is_retryable
from qna_agent.agent.pricing import PriceTable
from qna_agent.agent.types import ChatMessage, ToolCall, Usage
from qna_agent.errors import InvalidInput, UpstreamError, UpstreamTimeout


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> str:
    """The state, read afresh (mypy would otherwise narrow the property between reads)."""
    return breaker.state


def test_breaker_opens_fails_fast_then_lets_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=10, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert state_of(breaker) == "closed"
    breaker.before_call()
    breaker.record_failure()
    assert state_of(breaker) == "open"
    with pytest.raises(UpstreamUnavailable) as refused:
        breaker.before_call()
    assert refused.value.extra["retry_after"] == 10
    clock.now += 10
    assert state_of(breaker) == "half_open"
    breaker.before_call()  # the one trial call
    with pytest.raises(UpstreamUnavailable):
        breaker.before_call()  # others wait for its verdict
    breaker.record_failure()
    assert state_of(breaker) == "open"  # a failed trial opens it again at once
    clock.now += 10
    breaker.before_call()
    breaker.record_success()
    assert state_of(breaker) == "closed"
    breaker.before_call()


def test_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=1, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert state_of(breaker) == "closed"


def test_backoff_grows_is_capped_jittered_and_yields_to_retry_after() -> None:
    policy = RetryPolicy(max_retries=5, base_seconds=1.0, max_seconds=4.0)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0)]:
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not fixed
    assert policy.delay(1, 2.5, rng) == 2.5
    assert policy.delay(1, 60, rng) == 4.0


def test_what_is_retried() -> None:
    assert is_retryable(UpstreamError("x", upstream_status=503))
    assert is_retryable(UpstreamError("x", upstream_status=429))
    assert is_retryable(UpstreamError("connection refused"))
    assert is_retryable(UpstreamTimeout("slow"))
    assert not is_retryable(UpstreamError("x", upstream_status=400))
    assert not is_retryable(UpstreamError("x", upstream_status=401))
    assert not is_retryable(InvalidInput("x"))


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None and 25 <= seconds <= 30
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier) == 0.0


def test_prices_in_micro_units_with_dated_model_names() -> None:
    table = PriceTable(
        {
            "gpt-4o-mini": {"prompt": 0.15, "completion": 0.6},
            "gpt-4o": {"prompt": 2.5, "completion": 10.0},
        }
    )
    usage = Usage(prompt_tokens=1_000_000, completion_tokens=1000)
    assert table.cost_micros("gpt-4o-mini", usage) == 150_000 + 600
    assert table.cost_micros("gpt-4o-mini-2024-07-18", usage) == 150_600
    assert table.cost_micros("gpt-4o-2024-08-06", usage) == 2_500_000 + 10_000
    assert table.cost_micros("llama3", usage) == 0


def _turn(n: int, words: int = 100) -> list[ChatMessage]:
    return [
        ChatMessage("user", f"question {n} " + "word " * words),
        ChatMessage("assistant", f"answer {n} " + "word " * words),
    ]


def test_budget_drops_oldest_turns_first_and_keeps_the_essentials() -> None:
    system = ChatMessage("system", "You answer questions.")
    question = ChatMessage("user", "the new question")
    messages = [system, *_turn(1), *_turn(2), *_turn(3), question]
    per_turn = sum(message_tokens(m, estimate_text_tokens) for m in _turn(1))
    fixed = message_tokens(system, estimate_text_tokens) + message_tokens(
        question, estimate_text_tokens
    )
    kept = fit_to_budget(messages, fixed + 2 * per_turn + 5)
    assert kept == [system, *_turn(2), *_turn(3), question]
    assert fit_to_budget(messages, 10_000) == messages
    assert fit_to_budget(messages, 1) == [system, question]  # never fewer than these


def test_budget_never_splits_a_tool_call_from_its_results() -> None:
    system = ChatMessage("system", "s")
    call = ChatMessage(
        "assistant", "", (ToolCall("c1", "search", '{"q": "x"}'), ToolCall("c2", "search", "{}"))
    )
    results = [
        ChatMessage("tool", "result one " * 50, tool_call_id="c1"),
        ChatMessage("tool", "result two " * 50, tool_call_id="c2"),
    ]
    earlier = [ChatMessage("user", "earlier question"), call, *results]
    earlier.append(ChatMessage("assistant", "earlier answer"))
    question = ChatMessage("user", "now")
    messages = [system, *earlier, question]
    for budget in range(1, 600, 7):
        kept = fit_to_budget(messages, budget)
        ids = [m.tool_call_id for m in kept if m.role == "tool"]
        assert ids in ([], ["c1", "c2"])
        assert (call in kept) == bool(ids)
        assert kept[0] == system and kept[-1] == question
    # The current turn's own tool exchange is always sent whole.
    current = [system, question, call, *results]
    assert fit_to_budget(current, 1) == current
