"""The agent's built-in instructions to the model.

`AGENT_SYSTEM_PROMPT` replaces the system prompt; unset, the one here is used.
"""

from __future__ import annotations

DEFAULT_SYSTEM_PROMPT = (
    "You are the question-answering assistant of this organisation. Answer only from the "
    "passages returned by your tools: call search_knowledge_base before answering any question "
    "about policies, products or procedures. Cite every statement with the bracketed number of "
    "its source, like [1] or [2]. If the passages do not contain the answer, say plainly that "
    "you do not know rather than guessing. Be concise."
)


def effective_system_prompt(configured: str | None) -> str:
    """The system prompt in effect: the configured one, else the built-in one."""
    return configured or DEFAULT_SYSTEM_PROMPT
