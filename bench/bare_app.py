"""The framework's own ceiling on this machine: a bare FastAPI endpoint returning a constant.

It parses the same JSON body as `POST /chats/{id}/messages` (the service's `MessageCreate`),
so the difference to the service is everything the service does for a turn.

    python -m uvicorn bench.bare_app:app --port 9200 --no-access-log
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from qna_agent.api.schemas.messages import MessageCreate

app = FastAPI()

ANSWER = {"role": "assistant", "status": "completed", "content": "constant"}


@app.post("/chats/{chat_id}/messages", status_code=201)
async def post_message(chat_id: uuid.UUID, body: MessageCreate) -> dict[str, str]:
    """Parse the body and path like the real route, answer a constant."""
    return ANSWER


@app.get("/constant")
async def constant() -> dict[str, str]:
    """No body at all."""
    return ANSWER
