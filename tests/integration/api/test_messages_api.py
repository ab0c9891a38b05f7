"""Asking questions: blocking JSON, Server-Sent Events, history, limits and failures."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from qna_agent.config import Settings
from tests.fakes import FakeLLM, failure, text, tool_call
from tests.support.app import client_for, new_chat, parse_sse, running_app

QUESTION = "How long do I have to return an item?"


async def test_offline_answer_is_cited(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    response = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["role"] == "assistant"
    assert message["status"] == "completed"
    assert message["chat_id"] == chat_id
    assert "30 days" in message["content"]
    assert message["model"] == "extractive"
    assert message["latency_ms"] >= 0
    sources = {c["source"] for c in message["citations"]}
    assert "refund-policy.md" in sources
    for citation in message["citations"]:
        assert f"[{citation['ref']}]" in message["content"]
        assert citation["title"] and citation["snippet"]
    [call] = message["tool_calls"]
    assert call["name"] == "search_knowledge_base"
    assert call["status"] == "ok"
    assert call["arguments"]["query"] == QUESTION
    assert call["duration_ms"] >= 0


async def test_offline_answer_says_when_it_does_not_know(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    response = await client.post(
        f"/chats/{chat_id}/messages", json={"content": "What is the airspeed of a swallow?"}
    )
    assert response.status_code == 201
    assert response.json()["content"].startswith("I don't know")
    assert response.json()["citations"] == []


async def test_history_is_stored_in_order_and_paginated(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    questions = [QUESTION, "Do you ship to Canada?", "How do I delete my account?"]
    for question in questions:
        assert (
            await client.post(f"/chats/{chat_id}/messages", json={"content": question})
        ).status_code == 201
    page = (await client.get(f"/chats/{chat_id}/messages")).json()
    roles = [m["role"] for m in page["data"]]
    assert roles == ["user", "assistant"] * 3
    assert [m["content"] for m in page["data"][::2]] == questions
    assert page["has_more"] is False

    first = (await client.get(f"/chats/{chat_id}/messages", params={"limit": 4})).json()
    assert first["has_more"] is True
    rest = (
        await client.get(
            f"/chats/{chat_id}/messages", params={"limit": 4, "after": first["next_cursor"]}
        )
    ).json()
    assert [m["id"] for m in first["data"] + rest["data"]] == [m["id"] for m in page["data"]]

    newest = (await client.get(f"/chats/{chat_id}/messages", params={"order": "desc"})).json()
    assert [m["id"] for m in newest["data"]] == [m["id"] for m in reversed(page["data"])]

    one = page["data"][1]
    fetched = await client.get(f"/chats/{chat_id}/messages/{one['id']}")
    assert fetched.json() == one


async def test_streaming_events(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    response = await client.post(
        f"/chats/{chat_id}/messages",
        json={"content": QUESTION},
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert "no-cache" in response.headers["cache-control"]
    events = parse_sse(response.text)
    names = [e["event"] for e in events]
    assert names[0] == "message.created"
    assert names[1:3] == ["tool.call", "tool.result"]
    assert names[-1] == "message.completed"
    assert set(names[3:-1]) == {"message.delta"}
    assert [int(e["id"]) for e in events] == list(range(1, len(events) + 1))

    created = events[0]["data"]
    assert created["message"]["status"] == "in_progress"
    assert created["user_message"]["content"] == QUESTION
    completed = events[-1]["data"]
    assert completed["status"] == "completed"
    assert completed["id"] == created["message"]["id"]
    streamed = "".join(e["data"]["delta"] for e in events if e["event"] == "message.delta")
    assert streamed == completed["content"]
    assert events[1]["data"]["name"] == "search_knowledge_base"

    stored = await client.get(f"/chats/{chat_id}/messages/{completed['id']}")
    assert stored.json() == completed


async def test_stream_query_parameter(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    response = await client.post(
        f"/chats/{chat_id}/messages", params={"stream": "true"}, json={"content": QUESTION}
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    assert parse_sse(response.text)[-1]["event"] == "message.completed"


async def test_empty_and_oversized_messages_are_refused(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    empty = await client.post(f"/chats/{chat_id}/messages", json={"content": ""})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["field"] == "content"

    long = await client.post(f"/chats/{chat_id}/messages", json={"content": "x" * 8001})
    assert long.status_code == 422
    assert long.json()["errors"][0]["field"] == "content"

    huge = await client.post(
        f"/chats/{chat_id}/messages",
        content=b'{"content": "' + b"x" * 2_000_000 + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith("application/problem+json")
    # Nothing half-written: the refused requests stored no messages.
    assert (await client.get(f"/chats/{chat_id}/messages")).json()["data"] == []


async def test_openai_provider_end_to_end(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        tool_call("search_knowledge_base", query="return window", top_k=3),
        text(
            "You have 30 days from delivery to return most items [1].",
            prompt_tokens=700,
            completion_tokens=20,
        ),
    )
    configured = settings.model_copy(
        update={"llm_provider": "auto", "llm_base_url": fake_llm.base_url, "llm_max_retries": 0}
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
    assert response.status_code == 201, response.text
    message = response.json()
    assert message["content"] == "You have 30 days from delivery to return most items [1]."
    assert message["model"] == "fake-model"
    assert message["usage"] == {"prompt_tokens": 750, "completion_tokens": 30, "cost_micros": 0}
    assert message["citations"][0]["ref"] == 1
    assert message["tool_calls"][0]["arguments"] == {"query": "return window", "top_k": 3}

    first, second = fake_llm.requests
    assert first["messages"][0]["role"] == "system"
    assert first["messages"][-1] == {"role": "user", "content": QUESTION}
    assert [t["function"]["name"] for t in first["tools"]] == ["search_knowledge_base"]
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    passages = json.loads(tool_message["content"])["results"]
    assert passages and passages[0]["ref"] == 1


async def test_openai_provider_streams_tool_calls_and_usage(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        tool_call("search_knowledge_base", query="return window"),
        text("Thirty days [1], counted from delivery.", prompt_tokens=10, completion_tokens=5),
    )
    configured = settings.model_copy(
        update={"llm_base_url": fake_llm.base_url, "llm_provider": "openai"}
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(
            f"/chats/{chat_id}/messages", params={"stream": "true"}, json={"content": QUESTION}
        )
    events = parse_sse(response.text)
    deltas = "".join(e["data"]["delta"] for e in events if e["event"] == "message.delta")
    assert deltas == "Thirty days [1], counted from delivery."
    tool = next(e for e in events if e["event"] == "tool.call")["data"]
    assert tool["arguments"] == {"query": "return window"}
    completed = events[-1]["data"]
    assert completed["usage"] == {"prompt_tokens": 60, "completion_tokens": 15, "cost_micros": 0}
    assert fake_llm.requests[0]["stream_options"] == {"include_usage": True}


async def test_llm_failure_is_a_502_and_stored_as_failed(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(failure(503))
    configured = settings.model_copy(
        update={"llm_base_url": fake_llm.base_url, "llm_provider": "openai", "llm_max_retries": 0}
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert "503" in problem["detail"]
        assert problem["upstream"] == "llm"
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    user, assistant = history
    assert user["content"] == QUESTION and user["status"] == "completed"
    assert assistant["status"] == "failed"
    assert assistant["id"] == problem["message_id"]
    assert "503" in assistant["error"]


async def test_slow_llm_times_out_with_504(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("too late", delay=2.0))
    configured = settings.model_copy(
        update={
            "llm_base_url": fake_llm.base_url,
            "llm_provider": "openai",
            "llm_max_retries": 0,
            "agent_turn_timeout_seconds": 0.3,
        }
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        assert response.status_code == 504
        stored = (await client.get(f"/chats/{chat_id}/messages")).json()["data"][-1]
    assert stored["status"] == "failed"
    assert "0.3 s" in stored["error"]


async def test_streamed_failure_ends_with_error_event(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(failure(500))
    configured = settings.model_copy(
        update={"llm_base_url": fake_llm.base_url, "llm_provider": "openai", "llm_max_retries": 0}
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(
            f"/chats/{chat_id}/messages", params={"stream": "true"}, json={"content": QUESTION}
        )
    events = parse_sse(response.text)
    assert events[-1]["event"] == "error"
    error = events[-1]["data"]
    assert error["problem"]["status"] == 502
    assert error["message"]["status"] == "failed"


async def test_history_is_sent_to_the_model(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("First answer."), text("Second answer."))
    configured = settings.model_copy(
        update={"llm_base_url": fake_llm.base_url, "llm_provider": "openai"}
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        await client.post(f"/chats/{chat_id}/messages", json={"content": "one"})
        await client.post(f"/chats/{chat_id}/messages", json={"content": "two"})
    sent = [(m["role"], m["content"]) for m in fake_llm.requests[1]["messages"][1:]]
    assert sent == [("user", "one"), ("assistant", "First answer."), ("user", "two")]


@pytest.mark.parametrize("bad_id", ["123", str(uuid.uuid4())])
async def test_unknown_message_is_404_or_422(client: httpx.AsyncClient, bad_id: str) -> None:
    chat_id = await new_chat(client)
    response = await client.get(f"/chats/{chat_id}/messages/{bad_id}")
    assert response.status_code in (404, 422)
    assert response.headers["content-type"].startswith("application/problem+json")
