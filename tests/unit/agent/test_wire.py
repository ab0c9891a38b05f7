"""Reading Chat Completions answers off the wire: bodies, server-sent events, chunks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qna_agent.agent.models.wire import (
    StreamAssembler,
    decode_chunk,
    parse_completion,
    sse_data,
)
from qna_agent.agent.types import ToolCall, Usage
from qna_agent.errors import UpstreamError


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_a_completion_with_text_tool_calls_and_usage() -> None:
    body = _body(
        model="gpt-x-2024",
        choices=[
            {
                "message": {
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "search", "arguments": '{"q": "x"}'},
                        },
                        {"id": "call_2", "type": "custom", "custom": {}},
                    ],
                }
            }
        ],
        usage={"prompt_tokens": 12, "completion_tokens": 3},
    )
    response = parse_completion(body, "configured")
    assert response.content == ""
    assert response.tool_calls == (ToolCall("call_1", "search", '{"q": "x"}'),)
    assert response.usage == Usage(12, 3)
    assert response.model == "gpt-x-2024"


def test_a_completion_without_model_or_usage_takes_the_defaults() -> None:
    response = parse_completion(_body(choices=[{"message": {"content": "Hi"}}]), "configured")
    assert (response.content, response.model, response.usage) == ("Hi", "configured", Usage())


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>bad gateway</html>", "not JSON"),
        (b"[1, 2]", "not an object"),
        (_body(choices=[]), "no choices"),
        (_body(error={"message": "model overloaded"}), "model overloaded"),
    ],
)
def test_a_broken_completion_is_an_upstream_error(body: bytes, says: str) -> None:
    with pytest.raises(UpstreamError, match=says):
        parse_completion(body, "m")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def _events(*parts: bytes) -> list[str]:
    return [data async for data in sse_data(_chunks(*parts))]


async def test_events_split_across_chunks_and_line_endings() -> None:
    events = await _events(
        b'data: {"a"',
        b': 1}\r\n\r\n: keep-alive\r\n\r\ndata:{"b": 2}\n\nevent: x\n',
        b'data: {"c":\ndata: 3}\n\n',
    )
    assert [json.loads(e) for e in events] == [{"a": 1}, {"b": 2}, {"c": 3}]


async def test_done_ends_the_stream() -> None:
    assert await _events(b'data: {"a": 1}\n\ndata: [DONE]\n\ndata: {"late": 1}\n\n') == ['{"a": 1}']


async def test_an_endless_event_is_refused() -> None:
    with pytest.raises(UpstreamError, match="oversized"):
        await _events(b"data: " + b"x" * (1024 * 1024 + 10))


def test_an_error_event_in_the_stream_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="rate limited"):
        decode_chunk('{"error": {"message": "rate limited"}}')


def test_the_assembler_joins_text_and_tool_call_fragments() -> None:
    assembler = StreamAssembler("configured")
    pieces: list[dict[str, Any]] = [
        {"model": "m1", "choices": [{"delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"delta": {"content": "Hello "}}]},
        {"choices": [{"delta": {"content": "there"}}]},
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 1, "id": "b", "function": {"name": "two", "arguments": "{"}},
                            {"index": 0, "id": "a", "function": {"name": "one"}},
                        ]
                    }
                }
            ]
        },
        {"choices": [{"delta": {"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
    ]
    added = [assembler.add(piece) for piece in pieces]
    assert added == ["", "Hello ", "there", "", "", ""]
    response = assembler.response()
    assert response.content == "Hello there"
    assert response.tool_calls == (ToolCall("a", "one", "{}"), ToolCall("b", "two", "{}"))
    assert (response.usage, response.model) == (Usage(7, 2), "m1")


def test_a_completion_cut_at_the_token_limit_says_so() -> None:
    body = _body(choices=[{"message": {"content": "The return win"}, "finish_reason": "length"}])
    response = parse_completion(body, "m")
    assert (response.content, response.finish_reason, response.refusal) == (
        "The return win",
        "length",
        None,
    )


def test_a_refusal_is_read_apart_from_the_content() -> None:
    body = _body(
        choices=[
            {
                "message": {"content": None, "refusal": "I can't help with that."},
                "finish_reason": "stop",
            }
        ]
    )
    response = parse_completion(body, "m")
    assert (response.content, response.refusal, response.finish_reason) == (
        "",
        "I can't help with that.",
        "stop",
    )


def test_a_completion_without_a_finish_reason_leaves_it_unknown() -> None:
    response = parse_completion(_body(choices=[{"message": {"content": "Hi"}}]), "m")
    assert (response.finish_reason, response.refusal) == (None, None)


def test_the_assembler_takes_the_finish_reason_from_the_last_choice_delta() -> None:
    assembler = StreamAssembler("m")
    pieces: list[dict[str, Any]] = [
        {"choices": [{"delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"choices": [{"delta": {"content": "The return win"}, "finish_reason": None}]},
        {"choices": [{"delta": {}, "finish_reason": "length"}]},
        {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
    ]
    for piece in pieces:
        assembler.add(piece)
    response = assembler.response()
    assert (response.content, response.finish_reason, response.refusal) == (
        "The return win",
        "length",
        None,
    )


def test_the_assembler_joins_refusal_pieces_and_keeps_them_out_of_the_text() -> None:
    assembler = StreamAssembler("m")
    pieces: list[dict[str, Any]] = [
        {"choices": [{"delta": {"role": "assistant", "refusal": ""}}]},
        {"choices": [{"delta": {"refusal": "I can't "}}]},
        {"choices": [{"delta": {"refusal": "help."}}]},
        {"choices": [{"delta": {}, "finish_reason": "stop"}]},
    ]
    assert [assembler.add(piece) for piece in pieces] == ["", "", "", ""]
    response = assembler.response()
    assert (response.content, response.refusal, response.finish_reason) == (
        "",
        "I can't help.",
        "stop",
    )
