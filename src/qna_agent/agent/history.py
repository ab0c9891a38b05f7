"""Fitting the conversation sent to the model into a token budget.

The system prompt and the current turn (the last user message and every tool exchange after
it) are always sent. Earlier messages are dropped oldest first, in units that never split an
assistant message with tool calls from the tool results that answer it, until the rest fits.

Tokens are estimated: one token per four characters, rounded up, plus four tokens per message
for the role and separators, which is close to OpenAI's tokenizers on English text and errs on
the safe side for most others. (An exact tokenizer would need the model's encoding files
offline, and the budget only has to keep the request under the model's window.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import structlog

from qna_agent.agent.types import ChatMessage

log = structlog.get_logger(__name__)

MESSAGE_OVERHEAD_TOKENS = 4
CHARS_PER_TOKEN = 4

TextCounter = Callable[[str], int]


def estimate_text_tokens(text: str) -> int:
    """The documented estimate: ceil(characters / 4)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def message_tokens(message: ChatMessage, count: TextCounter) -> int:
    """Tokens one message takes, tool calls included."""
    total = MESSAGE_OVERHEAD_TOKENS + count(message.content)
    for call in message.tool_calls:
        total += count(call.name) + count(call.arguments) + MESSAGE_OVERHEAD_TOKENS
    return total


def _units(messages: Sequence[ChatMessage]) -> list[list[ChatMessage]]:
    """Messages grouped so a tool call and its results stay together."""
    units: list[list[ChatMessage]] = []
    for message in messages:
        if message.role == "tool" and units and units[-1][0].tool_calls:
            units[-1].append(message)
        else:
            units.append([message])
    return units


def fit_to_budget(
    messages: Sequence[ChatMessage], budget: int, count: TextCounter = estimate_text_tokens
) -> list[ChatMessage]:
    """`messages` without the oldest earlier turns that do not fit into `budget` tokens."""
    head = 0
    while head < len(messages) and messages[head].role == "system":
        head += 1
    last_user = max(
        (i for i in range(head, len(messages)) if messages[i].role == "user"), default=head
    )
    fixed = [*messages[:head], *messages[last_user:]]
    used = sum(message_tokens(m, count) for m in fixed)
    units = _units(messages[head:last_user])
    sizes = [sum(message_tokens(m, count) for m in unit) for unit in units]
    first = 0
    total = used + sum(sizes)
    while first < len(units) and total > budget:
        total -= sizes[first]
        first += 1
    # Start the kept history with a question, not with half of an exchange.
    while first < len(units) and units[first][0].role != "user":
        total -= sizes[first]
        first += 1
    if first:
        log.info("history_trimmed", dropped_messages=sum(len(u) for u in units[:first]))
    if used > budget:
        log.warning("history_over_budget", tokens=used, budget=budget)
    kept = [message for unit in units[first:] for message in unit]
    return [*messages[:head], *kept, *messages[last_user:]]
