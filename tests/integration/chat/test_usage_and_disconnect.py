"""Cost per message and per chat, and what a client that disconnects mid-stream leaves behind."""

from __future__ import annotations

import time
from typing import Any

import httpx
from prometheus_client import REGISTRY

from qna_agent.config import Settings
from tests.fakes import FakeLLM, Reply, failure, text
from tests.support.app import client_for, new_chat, running_app
from tests.support.served_app import served_app

QUESTION = "How long do I have to return an item?"
PRICES = {"fake-model": {"prompt": 2.0, "completion": 10.0}}  # per million tokens


def priced(settings: Settings, fake_llm: FakeLLM, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "openai",
        "llm_base_url": fake_llm.base_url,
        "llm_max_retries": 0,
        "llm_prices": PRICES,
        "llm_price_currency": "EUR",
    }
    values.update(overrides)
    return settings.model_copy(update=values)


async def test_cost_per_message_and_totals_per_chat(settings: Settings, fake_llm: FakeLLM) -> None:
    cost_before = (
        REGISTRY.get_sample_value("llm_cost_total", {"model": "fake-model", "currency": "EUR"})
        or 0.0
    )
    fake_llm.script(
        text("One.", prompt_tokens=1000, completion_tokens=100),
        failure(500),
        text("Two.", prompt_tokens=2000, completion_tokens=50),
    )
    async with running_app(priced(settings, fake_llm)) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        first = (await client.post(f"/chats/{chat_id}/messages", json={"content": "a"})).json()
        failed = await client.post(f"/chats/{chat_id}/messages", json={"content": "b"})
        assert failed.status_code == 502
        retried = await client.post(
            f"/chats/{chat_id}/messages/{failed.json()['message_id']}/retry"
        )
        chat = (await client.get(f"/chats/{chat_id}")).json()
    assert first["usage"] == {"prompt_tokens": 1000, "completion_tokens": 100, "cost_micros": 3000}
    assert retried.json()["usage"] == {
        "prompt_tokens": 2000,
        "completion_tokens": 50,
        "cost_micros": 4500,
    }
    assert chat["usage"] == {
        "prompt_tokens": 3000,
        "completion_tokens": 150,
        "cost_micros": 7500,
        "currency": "EUR",
        "assistant_messages": 2,
    }
    cost_after = REGISTRY.get_sample_value(
        "llm_cost_total", {"model": "fake-model", "currency": "EUR"}
    )
    assert cost_after is not None
    assert abs(cost_after - cost_before - 0.0075) < 1e-9  # the metric moves with stored cost


def _stream_until(base_url: str, chat_id: str, event: str) -> str:
    """Start a streamed turn, read up to `event`, then drop the connection; the message id."""
    with (
        httpx.Client(base_url=base_url, timeout=10) as client,
        client.stream(
            "POST", f"/chats/{chat_id}/messages?stream=true", json={"content": QUESTION}
        ) as response,
    ):
        message_id = ""
        for line in response.iter_lines():
            if line.startswith("data: ") and not message_id:
                message_id = line.split('"id":"', 1)[1].split('"', 1)[0]
            if line == f"event: {event}":
                break
    return message_id


def _wait_for(base_url: str, chat_id: str, message_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        message: dict[str, Any] = httpx.get(
            f"{base_url}/chats/{chat_id}/messages/{message_id}"
        ).json()
        if message["status"] != "in_progress":
            return message
        time.sleep(0.05)
    raise AssertionError("the turn did not finish")


def test_disconnected_stream_still_completes_and_is_stored(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply(tool_calls=[("search_knowledge_base", {"query": "return window"})]),
        text("Thirty days [1].", delay=0.5),
    )
    # Plain HTTP clients without keys: the flows, not authentication, are under test here.
    with served_app(priced(settings, fake_llm, auth_mode="none")) as (base_url, _):
        chat_id = httpx.post(f"{base_url}/chats", json={}).json()["id"]
        message_id = _stream_until(base_url, chat_id, "tool.result")
        message = _wait_for(base_url, chat_id, message_id)
    assert message["status"] == "completed"
    assert message["content"] == "Thirty days [1]."
    assert message["usage"]["prompt_tokens"] == 100  # both model calls


def test_disconnect_cancels_the_turn_when_configured(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        Reply(
            tool_calls=[("search_knowledge_base", {"query": "return window"})],
            prompt_tokens=70,
            completion_tokens=7,
        ),
        text("Too late.", delay=3),
    )
    configured = priced(settings, fake_llm, stream_cancel_on_disconnect=True, auth_mode="none")
    with served_app(configured) as (base_url, _):
        chat_id = httpx.post(f"{base_url}/chats", json={}).json()["id"]
        message_id = _stream_until(base_url, chat_id, "tool.result")
        started = time.monotonic()
        message = _wait_for(base_url, chat_id, message_id)
        assert time.monotonic() - started < 2.5  # did not wait for the slow second call
    assert message["status"] == "failed"
    assert message["error"].startswith("cancelled")
    # The call that finished before the disconnect is still accounted for.
    assert message["usage"] == {"prompt_tokens": 70, "completion_tokens": 7, "cost_micros": 210}
