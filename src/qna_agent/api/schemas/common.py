"""Shapes every resource shares: a page of results, and the problem document of an error."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from qna_agent.api.schemas.examples import CHAT_ID

T = TypeVar("T", bound=BaseModel)


class Page(BaseModel, Generic[T]):
    """A page of results. Each resource subclasses it (`class ChatPage(Page[ChatOut])`) so
    the OpenAPI component keeps a plain name and gets its own description and examples."""

    data: list[T]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `after` to get the next page.")


class Problem(BaseModel):
    """An error, as RFC 9457 `application/problem+json`."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": f"chat {CHAT_ID} not found",
                    "code": "not_found",
                }
            ]
        },
    )

    type: str = "about:blank"
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What went wrong, for a person.")
    instance: str | None = Field(None, description="The path of the request.")
    code: str = Field(description="What went wrong, for a program: `not_found`, `quota_exceeded`…")
