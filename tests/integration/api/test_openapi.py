"""The published OpenAPI document: every shape has examples that are valid, and every status a
route can answer is documented."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from qna_agent.api.openai import errors as openai_errors
from qna_agent.api.openai import requests as openai_requests
from qna_agent.api.schemas import chats, common, health, keys, knowledge, messages
from qna_agent.main import create_app
from tests.support.app import make_settings

SHAPES: list[ModuleType] = [
    chats,
    common,
    health,
    keys,
    knowledge,
    messages,
    openai_requests,
    openai_errors,
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The OpenAPI document of a default app (built without starting it)."""
    tmp_path: Path = tmp_path_factory.mktemp("openapi")
    openapi: dict[str, Any] = create_app(make_settings(tmp_path)).openapi()
    return openapi


def models() -> dict[str, type[BaseModel]]:
    """The pydantic models of the public shapes, by name."""
    return {
        value.__name__: value
        for module in SHAPES
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    }


def test_every_schema_has_examples_its_model_accepts(document: dict[str, Any]) -> None:
    known = models()
    components = document["components"]["schemas"]
    assert len(components) >= 25
    for name, schema in components.items():
        assert schema.get("examples"), f"{name} has no example"
        # The model's own examples: FastAPI drops null members when it publishes them.
        for example in known[name].model_json_schema()["examples"]:
            known[name].model_validate(example)  # raises, naming the field, if it is stale


def test_body_limits_are_documented(document: dict[str, Any]) -> None:
    operations = [
        ("/chats", "post"),
        ("/chats/{chat_id}", "patch"),
        ("/chats/{chat_id}/messages", "post"),
        ("/kb/documents", "post"),
        ("/keys", "post"),
        ("/v1/chat/completions", "post"),
    ]
    for path, method in operations:
        responses = document["paths"][path][method]["responses"]
        assert "413" in responses, (method, path)
    upload = document["paths"]["/kb/documents"]["post"]
    body = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"]
    chat = document["paths"]["/chats"]["post"]
    assert chat["requestBody"].get("required", False) is False  # a bare POST /chats is fine
