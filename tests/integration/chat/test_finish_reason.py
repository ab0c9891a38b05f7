"""Why an answer ended is kept and shown: a truncated answer says `length` in the chats API
(stored with the message) and on `/v1` (as OpenAI does), instead of looking complete."""

from __future__ import annotations

import openai
from openai.types.chat import ChatCompletionMessageParam

from qna_agent.config import Settings
from tests.fakes import FakeLLM, text
from tests.support.app import FILE_KEY, client_for, new_chat, running_app
from tests.support.served_app import served_app


def _with_llm(settings: Settings, fake_llm: FakeLLM) -> Settings:
    return settings.model_copy(
        update={"llm_provider": "openai", "llm_base_url": fake_llm.base_url, "llm_max_retries": 0}
    )


async def test_a_truncated_answer_is_stored_as_such(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("You have thirty", finish_reason="length"), text("Done.", delay=0.0))
    async with running_app(_with_llm(settings, fake_llm)) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        cut = await client.post(f"/chats/{chat_id}/messages", json={"content": "returns?"})
        assert cut.status_code == 201
        assert cut.json()["finish_reason"] == "length"
        whole = await client.post(f"/chats/{chat_id}/messages", json={"content": "and then?"})
        assert whole.json()["finish_reason"] == "stop"
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    assert [m["finish_reason"] for m in history] == [None, "length", None, "stop"]


def test_v1_says_length_when_the_answer_was_cut(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        text("You have thirty", finish_reason="length"),
        text("You have thirty", finish_reason="length"),
    )
    with (
        served_app(_with_llm(settings, fake_llm)) as (base_url, _),
        openai.OpenAI(base_url=f"{base_url}/v1", api_key=FILE_KEY, max_retries=0) as client,
    ):
        ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "How long to return?"}]
        answer = client.chat.completions.create(model="qna-agent", messages=ask)
        assert answer.choices[0].finish_reason == "length"
        stream = client.chat.completions.create(model="qna-agent", messages=ask, stream=True)
        reasons = [c.choices[0].finish_reason for c in stream if c.choices]
        assert reasons[-1] == "length"
