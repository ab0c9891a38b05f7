"""The `search_knowledge_base` tool: passages for the model, numbered for citation."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field

from qna_agent.agent.tools.registry import ToolContext, ToolFunction, ToolOutput
from qna_agent.agent.types import Citation
from qna_agent.knowledge.service import KnowledgeBase

KNOWLEDGE_TOOL_NAME = "search_knowledge_base"


def knowledge_search_tool(knowledge: KnowledgeBase, default_top_k: int) -> ToolFunction:
    """Build the knowledge-base tool bound to one knowledge base."""

    async def search_knowledge_base(
        context: ToolContext,
        query: Annotated[
            str, Field(min_length=1, max_length=1000, description="What to look for.")
        ],
        top_k: Annotated[
            int, Field(ge=1, le=20, description="How many passages to return.")
        ] = default_top_k,
    ) -> ToolOutput:
        """Search the organisation's documents and return the most relevant passages.

        Each passage has a `ref` number: cite it in the answer as [ref].
        """
        hits = await knowledge.search(query, top_k)
        results = []
        for hit in hits:
            ref = context.cite(
                Citation(
                    ref=0,
                    source=hit.path,
                    title=hit.title,
                    heading=hit.heading,
                    snippet=hit.snippet,
                    score=hit.score,
                    start_line=hit.start_line,
                    end_line=hit.end_line,
                    chunk_id=hit.chunk_id,
                )
            )
            results.append(
                {
                    "ref": ref,
                    "source": hit.path,
                    "title": hit.title,
                    "heading": hit.heading,
                    "text": hit.content,
                }
            )
        payload: dict[str, object] = {"query": query, "results": results}
        if not results:
            payload["note"] = "No passage matched. Say that the documents do not cover this."
        summary = f"{len(results)} passage{'s' if len(results) != 1 else ''} for {query!r}"
        return ToolOutput(json.dumps(payload, ensure_ascii=False), summary)

    return search_knowledge_base
