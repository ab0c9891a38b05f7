"""The OpenAI-compatible front door, called by the official `openai` SDK over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from qna_agent.config import Settings
from tests.conftest import FILE_KEY
from tests.fake_llm import FakeLLM, failure, text, tool_call
from tests.served_app import served_app

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
