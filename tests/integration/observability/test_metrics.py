"""`GET /metrics`: values move as a turn happens, labels stay bounded, the token guards it,
and `promtool check metrics` accepts the live output."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from qna_agent.config import Settings
from tests.fakes import FakeLLM, failure, text, tool_call
from tests.support.app import client_for, new_chat, running_app
from tests.support.observability import ask, llm_settings, promtool, scrape, script_turn, value

MESSAGES_ROUTE = "/chats/{chat_id}/messages"


async def test_one_turn_moves_the_metrics(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    settings = llm_settings(settings_factory, fake_llm)
    script_turn(fake_llm)
    async with running_app(settings) as (app, _), client_for(app) as client:
        before = await scrape(client)
        chat_id = await new_chat(client)
        response = await ask(client, chat_id)
        assert response.status_code == 201, response.text
        after = await scrape(client)
        body = (await client.get("/metrics")).text

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    post = {"method": "POST", "route": MESSAGES_ROUTE}
    assert delta("http_requests_total", **post, status="201") == 1
    assert delta("http_request_duration_seconds_count", **post) == 1
    assert delta("http_requests_total", method="POST", route="/chats", status="201") == 1
    assert delta("chat_sessions_total") == 1
    assert delta("messages_total", role="user") == 1
    assert delta("messages_total", role="assistant") == 1
    assert delta("agent_turns_total", status="completed") == 1
    llm = {"provider": "openai", "model": "fake-model"}
    assert delta("llm_calls_total", **llm, status="ok") == 2
    assert delta("llm_call_duration_seconds_count", **llm) == 2
    assert delta("llm_call_duration_seconds_sum", **llm) > 0
    assert delta("llm_tokens_total", model="fake-model", type="input") == 100
    assert delta("llm_tokens_total", model="fake-model", type="output") == 20
    tool = {"tool": "search_knowledge_base"}
    assert delta("tool_calls_total", **tool, status="ok") == 1
    assert delta("tool_call_duration_seconds_count", **tool) == 1
    assert delta("knowledge_base_searches_total") == 1
    assert delta("knowledge_base_search_duration_seconds_count") == 1
    assert value(after, "kb_documents") == 13
    assert value(after, "kb_chunks") >= 10
    assert value(after, "sse_streams_in_progress") == 0
    assert any(name == "qna_agent_build_info" for name, _ in after)
    # No unbounded label values: neither ids nor raw paths.
    assert chat_id not in body
    assert response.json()["id"] not in body


async def test_failures_and_unknown_names_have_bounded_labels(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    settings = llm_settings(settings_factory, fake_llm)
    fake_llm.script(
        tool_call("rm_rf_everything_" + "x" * 40, path="/"),  # a tool that does not exist
        text("I cannot do that."),
        failure(503),
    )
    async with running_app(settings) as (app, _), client_for(app) as client:
        before = await scrape(client)
        chat_id = await new_chat(client)
        assert (await ask(client, chat_id)).status_code == 201
        assert (await ask(client, chat_id)).status_code == 502
        await client.get(f"/chats/{chat_id}/nowhere/{chat_id}")
        await client.request("PROPFIND", "/chats")
        after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("tool_calls_total", tool="unknown", status="error") == 1
    assert delta("llm_calls_total", provider="openai", model="fake-model", status="error") == 1
    assert delta("agent_turns_total", status="failed") == 1
    assert delta("messages_total", role="assistant") == 2
    assert delta("http_requests_total", method="POST", route=MESSAGES_ROUTE, status="502") == 1
    assert delta("http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    assert delta("http_requests_total", method="OTHER", route="/chats", status="405") == 1
    labels = {dict(key)["tool"] for name, key in after if name == "tool_calls_total"}
    assert not any(label.startswith("rm_rf") for label in labels)


async def test_streams_in_progress_gauge(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    settings = llm_settings(settings_factory, fake_llm)
    fake_llm.script(text("Slowly [1].", delay=1.0))
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        streaming = asyncio.create_task(ask(client, chat_id, stream=True))
        for _ in range(100):
            during = await scrape(client)
            if value(during, "sse_streams_in_progress") == 1:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the open stream was never counted")
        response = await streaming
        assert response.status_code == 200
        after = await scrape(client)
    assert value(after, "sse_streams_in_progress") == 0


async def test_metrics_token_and_switch(settings_factory: Callable[..., Settings]) -> None:
    guarded = settings_factory(metrics_token="scrape-token-1234")
    async with running_app(guarded) as (app, _), client_for(app) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-token-1234"})
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert right.status_code == 200 and "http_requests_total" in right.text

    disabled = settings_factory(metrics_enabled=False)
    async with running_app(disabled) as (app, _), client_for(app) as client:
        assert (await client.get("/metrics")).status_code == 404


async def test_openmetrics_on_request(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


async def test_promtool_accepts_the_live_metrics(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    binary = promtool()
    settings = llm_settings(settings_factory, fake_llm)
    script_turn(fake_llm)
    fake_llm.script(text("Streamed [1]."))
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        assert (await ask(client, chat_id)).status_code == 201
        assert (await ask(client, chat_id, stream=True)).status_code == 200
        body = (await client.get("/metrics")).content
    assert b"llm_calls_total{" in body and b"tool_calls_total{" in body
    check = await asyncio.create_subprocess_exec(
        binary,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(check.communicate(body), timeout=60)
    assert check.returncode == 0, output.decode()


async def test_dashboards_and_alerts_only_use_metrics_the_service_exposes(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    from tests.support.observability import alert_queries, dashboard_queries, metric_names

    # Priced, so that llm_cost_total (the dashboard's cost panel) has a sample.
    prices = {"fake-model": {"prompt": 1.0, "completion": 2.0}}
    settings = llm_settings(settings_factory, fake_llm, llm_prices=prices)
    script_turn(fake_llm)
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        assert (await ask(client, chat_id)).status_code == 201
        exposed = {name for name, _ in await scrape(client)}
    missing = metric_names(dashboard_queries() + alert_queries()) - exposed
    assert not missing, f"queried but never exposed: {sorted(missing)}"
