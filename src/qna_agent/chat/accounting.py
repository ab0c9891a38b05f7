"""What a finished turn costs, counted once for every front door: `llm_cost_total`, the
principal's token budget settled to the tokens the model reported, the stream slot given
back, and the turn counters."""

from __future__ import annotations

from qna_agent.agent.pricing import PriceTable
from qna_agent.agent.types import Usage
from qna_agent.chat.admission import Ticket
from qna_agent.observability import metrics


def record_cost(prices: PriceTable, model: str, usage: Usage) -> int:
    """The cost of `usage` in micro-units, counted in `llm_cost_total`."""
    cost = prices.cost_micros(model, usage)
    if cost:
        metrics.LLM_COST.labels(model, prices.currency).inc(cost / 1_000_000)
    return cost


async def settle(ticket: Ticket | None, usage: Usage) -> None:
    """Settle the turn's reservation to what it used and give back its stream slot."""
    if ticket is not None:
        await ticket.close(usage.prompt_tokens + usage.completion_tokens)


def count_turn(status: str) -> None:
    """A stored turn ended with `status`."""
    metrics.ASSISTANT_MESSAGES.inc()
    metrics.TURNS.labels(status).inc()
