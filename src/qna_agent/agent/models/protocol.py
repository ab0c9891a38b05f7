"""The one interface between the loop and any language model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from qna_agent.agent.types import ChatMessage, ModelResponse, TextDelta, ToolSpec


class ChatModel(Protocol):
    """A chat model that may call tools.

    `stream` yields text as it is produced and ends with the complete `ModelResponse`.
    Failures raise `UpstreamError` or `UpstreamTimeout` from `qna_agent.errors`.
    """

    provider: str
    model: str

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        """One step, answered whole."""
        ...

    def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """One step, streamed; the last item is the complete response."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
