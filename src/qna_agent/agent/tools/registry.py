"""Tool registry: a tool is a typed async function whose docstring is its description.

The JSON schema the model sees is generated from the signature, and the model's arguments
are validated against it before the function runs. A first parameter annotated `ToolContext`
receives the turn's context and is not shown to the model.

    registry = ToolRegistry()
    registry.register(search_knowledge_base)
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from qna_agent.agent.types import Citation, ToolSpec


@dataclass(slots=True)
class ToolContext:
    """Per-turn state shared by the tools: the citations handed out so far."""

    citations: list[Citation] = field(default_factory=list)

    def cite(self, citation: Citation) -> int:
        """Register a source and return its reference number (the same source keeps one)."""
        for existing in self.citations:
            if (existing.source, existing.start_line, existing.end_line, existing.heading) == (
                citation.source,
                citation.start_line,
                citation.end_line,
                citation.heading,
            ):
                return existing.ref
        ref = len(self.citations) + 1
        self.citations.append(replace(citation, ref=ref))
        return ref


@dataclass(frozen=True, slots=True)
class ToolOutput:
    """What a tool returns: text for the model and a one-line summary for people."""

    content: str
    summary: str


class ToolError(Exception):
    """A refusal or failure the model can act on (a bad query, an unknown table): its message
    goes back to the model as the tool's result, and the call is recorded as `error`."""


class ToolArgumentError(ToolError):
    """The model's arguments do not fit the tool's schema; the message tells it why."""


ToolFunction = Callable[..., Awaitable[ToolOutput]]


@dataclass(frozen=True, slots=True)
class Tool:
    """A registered tool."""

    name: str
    description: str
    arguments: type[BaseModel]
    function: ToolFunction
    wants_context: bool

    @property
    def spec(self) -> ToolSpec:
        """The definition sent to the model."""
        schema = self.arguments.model_json_schema()
        schema.pop("title", None)
        return ToolSpec(self.name, self.description, schema)

    def parse(self, raw: str) -> dict[str, Any]:
        """Validate the model's JSON arguments; raises ToolArgumentError."""
        try:
            data = json.loads(raw or "{}")
        except json.JSONDecodeError as exc:
            raise ToolArgumentError(f"arguments are not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ToolArgumentError("arguments must be a JSON object")
        try:
            return self.arguments.model_validate(data).model_dump()
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ToolArgumentError(f"invalid arguments: {problems}") from None

    async def invoke(self, context: ToolContext, arguments: dict[str, Any]) -> ToolOutput:
        """Run the tool with validated arguments."""
        if self.wants_context:
            return await self.function(context, **arguments)
        return await self.function(**arguments)


def _description(function: ToolFunction) -> str:
    doc = inspect.getdoc(function) or ""
    first_paragraph = doc.split("\n\n", 1)[0]
    return " ".join(first_paragraph.split())


def tool_from_function(function: ToolFunction, name: str | None = None) -> Tool:
    """Build a Tool from a typed async function."""
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"tool {function.__name__} must be an async function")
    hints = get_type_hints(function, include_extras=True)
    fields: dict[str, Any] = {}
    wants_context = False
    for index, parameter in enumerate(inspect.signature(function).parameters.values()):
        annotation = hints.get(parameter.name, Any)
        if index == 0 and annotation is ToolContext:
            wants_context = True
            continue
        default = ... if parameter.default is inspect.Parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    tool_name = name or function.__name__
    arguments = create_model(
        f"{tool_name}_arguments",
        __config__=ConfigDict(extra="forbid"),
        **fields,
    )
    return Tool(tool_name, _description(function), arguments, function, wants_context)


class ToolRegistry:
    """The tools one agent may use."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        # Generating a JSON schema costs about a millisecond; the agent asks on every step.
        self._specs: list[ToolSpec] | None = None

    def register(self, function: ToolFunction, name: str | None = None) -> Tool:
        """Add a tool; its name must be unique."""
        tool = tool_from_function(function, name)
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        self._specs = None
        return tool

    def get(self, name: str) -> Tool | None:
        """The tool with this name, if any."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """Registered tool names."""
        return list(self._tools)

    def specs(self) -> list[ToolSpec]:
        """Definitions of every tool, for the model."""
        if self._specs is None:
            self._specs = [tool.spec for tool in self._tools.values()]
        return list(self._specs)
