"""What the load generator sends: one function per scenario, each timing one request.

Every connection keeps its own chat and starts a new one every `TURNS_PER_CHAT` turns, so
the history the agent reads stays realistic (up to 20 earlier messages). Questions come from
a pool of thousands of distinct ones, taken in turn, so the search cache does not decide
the result.
"""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

from loadgen import Connection, HTTPError, Sample, expect

TURNS_PER_CHAT = 10
JSON = {"Accept": "application/json"}
SSE = {"Accept": "text/event-stream"}


class Workload:
    """Questions and chats shared by the connections of one service."""

    def __init__(self, questions: list[str], auth: dict[str, str] | None = None) -> None:
        self.questions = questions
        # Sent with every request: `Authorization: Bearer <key>` for a service with keys.
        self.json = {**JSON, **(auth or {})}
        self.sse = {**SSE, **(auth or {})}
        self.position = 0
        self.chats: dict[int, tuple[str, int]] = {}
        self.history_chats: list[str] = []

    def question(self) -> str:
        """The next question of the pool."""
        question = self.questions[self.position % len(self.questions)]
        self.position += 1
        return question

    async def chat_for(self, conn: Connection, index: int) -> str:
        """The connection's chat, a new one after TURNS_PER_CHAT turns (not timed)."""
        chat_id, turns = self.chats.get(index, ("", TURNS_PER_CHAT))
        if turns >= TURNS_PER_CHAT:
            response = await conn.request("POST", "/chats", b'{"title": "bench"}', self.json)
            expect(response, 201, "create chat")
            chat_id, turns = json.loads(response.body)["id"], 0
        self.chats[index] = (chat_id, turns + 1)
        if turns + 1 == TURNS_PER_CHAT:
            self.history_chats.append(chat_id)
        return chat_id

    def _body(self) -> bytes:
        return json.dumps({"content": self.question()}).encode()

    async def turn(self, conn: Connection, index: int) -> Sample:
        """(a) A full agent turn, answered as JSON."""
        chat_id = await self.chat_for(conn, index)
        body = self._body()
        started = time.perf_counter()
        response = await conn.request("POST", f"/chats/{chat_id}/messages", body, self.json)
        latency = time.perf_counter() - started
        expect(response, 201, "turn")
        if b'"status":"completed"' not in response.body:
            raise HTTPError(f"turn not completed: {response.body[:200]!r}")
        return Sample(latency)

    async def stream(self, conn: Connection, index: int) -> Sample:
        """(b) The same turn over SSE: time to the first answer token and to the end."""
        chat_id = await self.chat_for(conn, index)
        body = self._body()
        started = time.perf_counter()
        response = await conn.request(
            "POST", f"/chats/{chat_id}/messages", body, self.sse, watch=b"event: message.delta"
        )
        latency = time.perf_counter() - started
        expect(response, 200, "stream")
        if b"event: message.completed" not in response.body or response.first_event_at is None:
            raise HTTPError(f"stream did not complete: {response.body[-300:]!r}")
        return Sample(latency, response.first_event_at - started)

    async def history(self, conn: Connection, index: int) -> Sample:
        """(c) Read a chat's history (chats of TURNS_PER_CHAT turns, 20 messages)."""
        if not self.history_chats:
            raise HTTPError("no chat with history yet: run turns first")
        chat_id = self.history_chats[(self.position + index) % len(self.history_chats)]
        self.position += 1
        started = time.perf_counter()
        response = await conn.request("GET", f"/chats/{chat_id}/messages?limit=50", None, self.json)
        latency = time.perf_counter() - started
        expect(response, 200, "history")
        return Sample(latency)

    async def search(self, conn: Connection, index: int) -> Sample:
        """(d) Knowledge-base search alone."""
        path = f"/kb/search?q={quote(self.question())}"
        started = time.perf_counter()
        response = await conn.request("GET", path, None, self.json)
        latency = time.perf_counter() - started
        expect(response, 200, "search")
        return Sample(latency)


class Baselines:
    """Requests to the bare FastAPI app and to the fake LLM alone."""

    def __init__(self, questions: list[str], system_prompt: str) -> None:
        self.questions = questions
        self.position = 0
        self.system_prompt = system_prompt

    def question(self) -> str:
        """The next question of the pool."""
        question = self.questions[self.position % len(self.questions)]
        self.position += 1
        return question

    async def bare(self, conn: Connection, index: int) -> Sample:
        """The same body and path shape as a turn, answered with a constant."""
        body = json.dumps({"content": self.question()}).encode()
        started = time.perf_counter()
        response = await conn.request("POST", f"/chats/{uuid.uuid4()}/messages", body, JSON)
        latency = time.perf_counter() - started
        expect(response, 201, "bare")
        return Sample(latency)

    def _llm_request(self, question: str, tool_result: str | None) -> bytes:
        messages: list[dict[str, object]] = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": question},
        ]
        if tool_result is not None:
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {
                                "name": "search_knowledge_base",
                                "arguments": json.dumps({"query": question}),
                            },
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": "call_1", "content": tool_result})
        tool = {
            "type": "function",
            "function": {
                "name": "search_knowledge_base",
                "description": "Search the organisation's documents.",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
                    "required": ["query"],
                },
            },
        }
        return json.dumps({"model": "fake", "messages": messages, "tools": [tool]}).encode()

    async def llm_turn(self, conn: Connection, index: int) -> Sample:
        """The model's share of a turn: the tool-call request, then the answer request."""
        question = self.question()
        started = time.perf_counter()
        path = "/v1/chat/completions"
        first = await conn.request("POST", path, self._llm_request(question, None))
        expect(first, 200, "fake LLM")
        passages = json.dumps({"query": question, "results": [{"ref": 1, "text": "x" * 3000}]})
        second = await conn.request(
            "POST", "/v1/chat/completions", self._llm_request(question, passages)
        )
        latency = time.perf_counter() - started
        expect(second, 200, "fake LLM")
        return Sample(latency)
