"""The OpenAI-compatible front door, called by the official `openai` SDK over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client import REGISTRY

from qna_agent.agent.prompts import effective_system_prompt
from qna_agent.agent.types import ChatMessage
from qna_agent.config import Settings
from qna_agent.container import build_services
from tests.fakes import FakeLLM, failure, text, tool_call
from tests.support.app import FILE_KEY
from tests.support.served_app import served_app

QUESTION = "How long do I have to return an item?"


@pytest.fixture
def sdk(settings: Settings) -> Iterator[openai.OpenAI]:
    """An SDK client of the app served with the offline (extractive) model."""
    with (
        served_app(settings) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
    ):
        yield client


def test_models_lists_the_agent(sdk: openai.OpenAI) -> None:
    assert [model.id for model in sdk.models.list()] == ["qna-agent"]
    assert sdk.models.retrieve("qna-agent").owned_by == "qna-agent"
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("gpt-4")


def test_completion_answers_with_citations(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(
        model="qna-agent", messages=[{"role": "user", "content": QUESTION}]
    )
    content = completion.choices[0].message.content or ""
    assert "30 days" in content
    assert "\n\nSources:\n[" in content and "refund-policy.md" in content
    assert completion.choices[0].finish_reason == "stop"
    extra = completion.model_extra or {}
    assert "refund-policy.md" in {c["source"] for c in extra["citations"]}
    assert extra["qna_tool_calls"][0]["name"] == "search_knowledge_base"


def test_completion_streams(sdk: openai.OpenAI) -> None:
    stream = sdk.chat.completions.create(
        model="qna-agent",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": QUESTION},
        ],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "30 days" in content and "Sources:" in content
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finished) == 1
    assert (finished[0].model_extra or {})["citations"]
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_bad_requests_get_openai_errors(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert "qna-agent" in unknown.value.message
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(
            model="qna-agent", messages=[{"role": "assistant", "content": "hi"}]
        )


def test_tools_run_server_side_and_failures_are_reported(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        tool_call("search_knowledge_base", query="return window"),
        text("You have 30 days [1]."),
        failure(400),
    )
    configured = settings.model_copy(
        update={"llm_provider": "openai", "llm_base_url": fake_llm.base_url, "llm_max_retries": 0}
    )
    with (
        served_app(configured) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
    ):
        stream = client.chat.completions.create(
            model="qna-agent",
            messages=[
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": "Hi! How can I help?"},
                {"role": "user", "content": QUESTION},
            ],
            stream=True,
        )
        content = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        with pytest.raises(openai.APIStatusError) as failed:
            client.chat.completions.create(
                model="qna-agent", messages=[{"role": "user", "content": QUESTION}]
            )
    assert content.startswith("You have 30 days [1].\n\nSources:\n[1] ")
    sent = fake_llm.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert failed.value.status_code == 502


def _served(settings: Settings, llm: FakeLLM, **extra: Any) -> Settings:
    return settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": llm.base_url,
            "llm_max_retries": 0,
            **extra,
        }
    )


ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]


def _first_call_tokens(settings: Settings, question: str) -> int:
    """What an answer to `question` reserves of the budget before its first model call."""
    services = build_services(settings)
    try:
        return services.agent.first_call_tokens([ChatMessage("user", question)])
    finally:
        asyncio.run(services.close())


def test_completions_spend_the_token_budget_and_count_their_cost(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.default = text("Thirty days.", prompt_tokens=100, completion_tokens=10)
    labels = {"model": "fake-model", "currency": "EUR"}
    cost_before = REGISTRY.get_sample_value("llm_cost_total", labels) or 0.0
    configured = _served(
        settings,
        fake_llm,
        llm_prices={"fake-model": {"prompt": 2.0, "completion": 10.0}},
        llm_price_currency="EUR",
    )
    # Room for two answers of 110 tokens and a third's reservation? No: for two only.
    budget = _first_call_tokens(configured, QUESTION) + 160
    configured = configured.model_copy(update={"rate_limit_tokens_per_day": budget})
    outcomes: list[str] = []
    with (
        served_app(configured) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
    ):
        for stream in (False, True, False, False, False):
            try:
                if stream:
                    list(
                        client.chat.completions.create(model="qna-agent", messages=ASK, stream=True)
                    )
                else:
                    client.chat.completions.create(model="qna-agent", messages=ASK)
                outcomes.append("ok")
            except openai.RateLimitError as refused:
                outcomes.append("429")
                assert int(refused.response.headers["retry-after"]) > 0
                assert refused.body["type"] == "invalid_request_error"  # type: ignore[index]
    # 110 tokens each, settled after a reservation of the first call's bound: two fit.
    assert outcomes == ["ok", "ok", "429", "429", "429"]
    assert len(fake_llm.requests) == 2
    cost_after = REGISTRY.get_sample_value("llm_cost_total", labels)
    assert cost_after is not None
    assert abs(cost_after - cost_before - 2 * 0.0003) < 1e-9  # 100 x 2 + 10 x 10 micro-EUR each


def test_streams_take_a_slot_and_keep_quiet_steps_alive(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        tool_call("search_knowledge_base", query="return window"),
        text("You have 30 days [1].", delay=1.0),
    )
    configured = _served(settings, fake_llm, max_streams_per_principal=1, sse_keepalive_seconds=0.2)
    with (
        served_app(configured) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
        httpx.stream(
            "POST",
            f"{base_url}/v1/chat/completions",
            json={"model": "qna-agent", "messages": ASK, "stream": True},
            headers={"Authorization": f"Bearer {FILE_KEY}"},
            timeout=30,
        ) as first,
    ):
        lines = first.iter_lines()
        assert next(lines).startswith("data: ")  # the stream is open and holds the slot
        with pytest.raises(openai.RateLimitError) as second:
            client.chat.completions.create(model="qna-agent", messages=ASK, stream=True)
        assert second.value.response.headers["retry-after"]
        rest = [line for line in lines if line]
    keepalives = [line for line in rest if line.startswith(":")]
    assert len(keepalives) >= 2  # while the model took its second, slow step
    content = "".join(
        json.loads(line.removeprefix("data: "))["choices"][0]["delta"].get("content") or ""
        for line in rest
        if line.startswith("data: {") and '"choices": [{' in line
    )
    assert content.startswith("You have 30 days [1].")
    assert rest[-1] == "data: [DONE]"


def test_a_paused_model_says_when_to_retry(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.default = failure(500)
    configured = _served(settings, fake_llm, llm_breaker_failures=1, llm_breaker_reset_seconds=30)
    with (
        served_app(configured) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
    ):
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="qna-agent", messages=ASK)
        with pytest.raises(openai.InternalServerError) as paused:
            client.chat.completions.create(model="qna-agent", messages=ASK)
    assert failed.value.status_code == 502
    assert paused.value.status_code == 503
    assert 0 < int(paused.value.response.headers["retry-after"]) <= 30


def test_invalid_requests_get_openai_errors_not_problems(sdk: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as empty:
        sdk.chat.completions.create(model="qna-agent", messages=[])
    assert empty.value.response.headers["content-type"] == "application/json"
    assert empty.value.body["param"] == "messages"  # type: ignore[index]
    assert empty.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    base_url = str(sdk.base_url).rstrip("/")
    headers = {"Authorization": f"Bearer {FILE_KEY}"}
    missing = httpx.post(f"{base_url}/chat/completions", json={"messages": ASK}, headers=headers)
    broken = httpx.post(f"{base_url}/chat/completions", content=b"{not json", headers=headers)
    not_utf8 = httpx.post(
        f"{base_url}/chat/completions",
        content=b"\xff",
        headers={**headers, "Content-Type": "application/json"},
    )
    unauthorized = httpx.post(f"{base_url}/chat/completions", json={"model": "qna-agent"})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "model"
    assert "model" in missing.json()["error"]["message"]
    assert broken.status_code == 400 and broken.json()["error"]["type"] == "invalid_request_error"
    assert not_utf8.status_code == 400 and not_utf8.json()["error"]["message"]
    assert unauthorized.status_code == 401
    assert unauthorized.headers["content-type"] == "application/json"
    assert unauthorized.headers["www-authenticate"].startswith("Bearer")
    assert set(unauthorized.json()["error"]) == {"message", "type", "param", "code"}


def test_client_system_messages_follow_the_service_prompt(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(text("Brief."))
    with (
        served_app(_served(settings, fake_llm)) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
    ):
        client.chat.completions.create(
            model="qna-agent",
            messages=[{"role": "system", "content": "Answer in one word."}, *ASK],
        )
    sent = fake_llm.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user"]
    assert sent[0]["content"] == effective_system_prompt(settings.agent_system_prompt)
    assert sent[1]["content"] == "Answer in one word."


def test_every_message_is_bounded_before_it_reaches_the_model(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(text("never"))
    huge = "x" * 200_000
    with (
        served_app(_served(settings, fake_llm)) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
    ):
        for messages in (
            [{"role": "system", "content": huge}, *ASK],
            [{"role": "developer", "content": huge}, *ASK],
            [*ASK, {"role": "assistant", "content": huge}, *ASK],
        ):
            with pytest.raises(openai.BadRequestError) as refused:
                client.chat.completions.create(model="qna-agent", messages=messages)  # type: ignore[arg-type]
            error = refused.value.body
            assert error["code"] == "message_too_long"  # type: ignore[index]
            assert error["type"] == "invalid_request_error"  # type: ignore[index]
            position = next(i for i, m in enumerate(messages) if m["content"] == huge)
            assert error["param"] == f"messages.{position}.content"  # type: ignore[index]
            assert f"the limit is {settings.max_message_chars}" in error["message"]  # type: ignore[index]
    assert fake_llm.requests == []  # never sent to the model
