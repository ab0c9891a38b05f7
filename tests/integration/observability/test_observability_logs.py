"""Structured logs: one request id from the request to the LLM call, access lines, one
traceback per unexpected error, none for client errors, and no secret ever logged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from qna_agent.config import Settings
from tests.fakes import FakeLLM
from tests.support.app import client_for, new_chat, running_app
from tests.support.observability import QUESTION, ask, json_lines, llm_settings, script_turn

MESSAGES_ROUTE = "/chats/{chat_id}/messages"


async def test_one_request_id_from_request_to_llm_call(
    settings_factory: Callable[..., Settings],
    fake_llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = llm_settings(settings_factory, fake_llm, log_format="json")
    script_turn(fake_llm)
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        capsys.readouterr()
        response = await ask(client, chat_id, headers={"X-Request-ID": "req-42.a:b"})
        assert response.status_code == 201, response.text
        assert response.headers["x-request-id"] == "req-42.a:b"
    lines = json_lines(capsys.readouterr().err)
    turn_lines = [line for line in lines if line.get("request_id") == "req-42.a:b"]

    [access] = [line for line in turn_lines if line["event"] == "request_finished"]
    assert access["method"] == "POST"
    assert access["route"] == MESSAGES_ROUTE
    assert access["path"] == f"/chats/{chat_id}/messages"
    assert access["status"] == 201
    assert access["duration_ms"] > 0
    assert access["level"] == "info"

    llm_calls = [line for line in turn_lines if line["event"] == "llm_call_finished"]
    assert len(llm_calls) == 2
    for call in llm_calls:
        assert call["provider"] == "openai"
        assert call["model"] == "fake-model"
        assert call["status"] == "ok"
        assert call["input_tokens"] == 50 and call["output_tokens"] == 10
        assert call["chat_id"] == chat_id
        assert call["message_id"]
    [tool] = [line for line in turn_lines if line["event"] == "tool_called"]
    assert tool["tool"] == "search_knowledge_base" and tool["chat_id"] == chat_id
    [finished] = [line for line in turn_lines if line["event"] == "turn_finished"]
    assert finished["status"] == "completed"
    assert {line["message_id"] for line in [*llm_calls, tool, finished]} == {finished["message_id"]}
    # The question is content: not logged at INFO.
    assert QUESTION not in "\n".join(str(line) for line in lines)


async def test_generated_request_id_when_the_incoming_one_is_not_sane(
    settings_factory: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_factory(log_format="json")
    async with running_app(settings) as (app, _), client_for(app) as client:
        capsys.readouterr()
        response = await client.get("/chats", headers={"X-Request-ID": "bad id;drop"})
    generated = response.headers["x-request-id"]
    assert generated != "bad id;drop" and len(generated) == 32
    [access] = [
        line for line in json_lines(capsys.readouterr().err) if line["event"] == "request_finished"
    ]
    assert access["request_id"] == generated and access["route"] == "/chats"


async def test_unexpected_error_is_logged_once_with_its_traceback(
    settings_factory: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    async def explode() -> None:
        raise RuntimeError("kaboom")

    async with running_app(settings_factory(log_format="json")) as (app, _):
        app.add_api_route("/explode", explode)
        async with client_for(app) as client:
            capsys.readouterr()
            response = await client.get("/explode")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "internal_error"
    assert "kaboom" not in response.text
    output = capsys.readouterr().err
    assert output.count("Traceback") == 1
    lines = json_lines(output)
    [error] = [line for line in lines if "exception" in line]
    assert error["event"] == "unhandled_error" and error["level"] == "error"
    assert "RuntimeError: kaboom" in error["exception"]
    [access] = [line for line in lines if line["event"] == "request_finished"]
    assert access["status"] == 500 and access["route"] == "/explode"
    assert access["level"] == "warning"
    assert access["request_id"] == error["request_id"] == response.headers["x-request-id"]


async def test_client_errors_log_no_traceback(
    settings_factory: Callable[..., Settings], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = settings_factory(log_format="json")
    async with running_app(settings) as (app, _), client_for(app) as client:
        capsys.readouterr()
        missing = await client.get("/chats/0190f0f0-0000-7000-8000-000000000000")
        invalid = await client.post("/chats", json={"title": 5})
        unknown = await client.get("/no/such/page")
    assert (missing.status_code, invalid.status_code, unknown.status_code) == (404, 422, 404)
    lines = json_lines(capsys.readouterr().err)
    assert not [line for line in lines if "exception" in line or line["level"] == "error"]
    access = [line for line in lines if line["event"] == "request_finished"]
    assert [(line["route"], line["status"]) for line in access] == [
        ("/chats/{chat_id}", 404),
        ("/chats", 422),
        ("<unmatched>", 404),
    ]


SECRETS = {
    "llm_api_key": "sk-test-Zt1Q9xLk3mP0aB7vW2yR",
    "metrics_token": "metrics-token-Hq8c61Jx0e",
    "authorization": "user-bearer-Vd92kLmQ77",
    "x_api_key": "x-api-key-Pz71QaN3tt",
    "query": "query-secret-Kd82Wn5r",
}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
async def test_secrets_never_reach_the_logs(
    settings_factory: Callable[..., Settings],
    fake_llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
    stream: bool,
) -> None:
    settings = llm_settings(
        settings_factory,
        fake_llm,
        log_format="json",
        log_level="DEBUG",  # the most talkative level: contents appear, secrets still do not
        auth_mode="none",  # the secret-looking credentials below are sent, not checked
        llm_api_key=SECRETS["llm_api_key"],
        metrics_token=SECRETS["metrics_token"],
    )
    script_turn(fake_llm)
    headers = {
        "Authorization": f"Bearer {SECRETS['authorization']}",
        "X-API-Key": SECRETS["x_api_key"],
    }
    async with running_app(settings) as (app, _), client_for(app) as client:
        capsys.readouterr()
        response = await client.post("/chats", json={"title": "t"}, headers=headers)
        chat_id = response.json()["id"]
        response = await client.post(
            f"/chats/{chat_id}/messages?api_key={SECRETS['query']}",
            json={"content": QUESTION},
            headers={**headers, **({"Accept": "text/event-stream"} if stream else {})},
        )
        assert response.status_code == (200 if stream else 201), response.text
        scrape = await client.get(
            "/metrics", headers={"Authorization": f"Bearer {SECRETS['metrics_token']}"}
        )
        assert scrape.status_code == 200
    output = capsys.readouterr().err
    lines = json_lines(output)
    # The key was really used, and the turn really was logged at DEBUG with its content.
    assert fake_llm.request_headers[0]["authorization"] == f"Bearer {SECRETS['llm_api_key']}"
    assert any(line["event"] == "turn_started" and line["question"] == QUESTION for line in lines)
    assert any(line["event"] == "llm_call_finished" for line in lines)
    for name, secret in SECRETS.items():
        assert secret not in output, f"{name} leaked into the logs"
