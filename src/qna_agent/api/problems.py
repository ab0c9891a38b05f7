"""The error responses routes publish in OpenAPI: every one is an RFC 9457 problem document.

FastAPI documents a response's `model` under `application/json` only; `content` adds the media
type the error table really sends.
"""

from __future__ import annotations

from typing import Any

from qna_agent.api.schemas.common import Problem

PROBLEM_CONTENT: dict[str, Any] = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}

Responses = dict[int | str, dict[str, Any]]


# What /chats and /keys have always published for their own errors: the media type without
# its schema (the `application/json` entry FastAPI adds carries it).
BARE_PROBLEM_CONTENT: dict[str, Any] = {"application/problem+json": {}}


def problem(description: str, content: dict[str, Any] = PROBLEM_CONTENT) -> dict[str, Any]:
    """A documented error response answered with a problem document."""
    return {"model": Problem, "description": description, "content": content}


# Shared by the authenticated routers. 422 replaces FastAPI's default (application/json with
# its HTTPValidationError), which is not what api/errors.py sends.
API_RESPONSES: Responses = {
    400: problem("The body could not be parsed (not UTF-8 JSON)."),
    401: problem("No valid API key."),
    403: problem("Needs an admin key."),
    413: problem(
        "The body is larger than `MAX_REQUEST_BYTES` (uploads: `KB_MAX_UPLOAD_BYTES`), "
        "declared or counted as it streams."
    ),
    422: problem("Invalid request; `errors[]` names each field."),
    429: problem("Rate limit: see `Retry-After` and `RateLimit-*`."),
}
