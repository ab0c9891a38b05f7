"""Constrained types shared by request bodies and parameters: text every database can store,
metadata of bounded size, integers the columns can hold.

PostgreSQL refuses U+0000 in `text` and `jsonb` (SQLite stores it), so a NUL that got past the
schema would be a 500 on one database and not the other. Other C0 control characters are refused
too: they are never meant in a title or a key, and only tab, newline and carriage return belong
in free-form text. Each rule is also published as a `pattern` in the OpenAPI schema, written so
that Python's `re` (what schema-driven clients and fuzzers use) agrees with the validator.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# Largest value of the 32-bit `Integer` columns (chunk ids): a larger path or query integer is
# refused with 422 rather than overflowing the database's parameter (500 on PostgreSQL).
INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_CONTROL = r"\x00-\x1f"  # every C0 control character
_CONTROL_BUT_WHITESPACE = r"\x00-\x08\x0b\x0c\x0e-\x1f"  # ...except tab, newline and CR
_FORBIDDEN_ONE_LINE = re.compile(f"[{_CONTROL}]")
_FORBIDDEN_FREE_FORM = re.compile(f"[{_CONTROL_BUT_WHITESPACE}]")


@dataclass(frozen=True, slots=True)
class CleanText:
    """Annotation for a `str`: refuses C0 control characters (tab, newline and CR too unless
    `multiline`) and, with `visible`, text that is empty or only whitespace."""

    multiline: bool = False
    visible: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema

    @property
    def pattern(self) -> str:
        """The same rule as a regular expression (linear: its character classes are disjoint)."""
        allowed = f"[^{_CONTROL_BUT_WHITESPACE if self.multiline else _CONTROL}]"
        if not self.visible:
            return f"^{allowed}*$"
        space = f"[^\\S{_CONTROL_BUT_WHITESPACE if self.multiline else _CONTROL}]"
        visible = f"[^\\s{_CONTROL}]"
        return f"^{space}*{visible}{allowed}*$"

    def check(self, value: str) -> str:
        """The value, or a validation error saying what is wrong with it."""
        problem = control_character_problem(value, multiline=self.multiline)
        if problem is not None:
            raise PydanticCustomError("control_character", problem)
        if self.visible and (not value or value.isspace()):
            raise PydanticCustomError("blank_text", "must not be empty or only whitespace")
        return value


def control_character_problem(value: str, *, multiline: bool) -> str | None:
    """What is wrong with `value` ("must not contain..."), or None if it has no forbidden
    control character."""
    found = (_FORBIDDEN_FREE_FORM if multiline else _FORBIDDEN_ONE_LINE).search(value)
    if found is None:
        return None
    allowed = " other than tab, newline and carriage return" if multiline else ""
    return (
        f"must not contain control characters (U+0000-U+001F){allowed}; "
        f"found U+{ord(found.group()):04X} at position {found.start()}"
    )


OneLineText = Annotated[str, CleanText()]
"""A name or title: no control characters at all."""

FreeText = Annotated[str, CleanText(multiline=True)]
"""Free-form text: tab, newline and carriage return allowed, no other control character."""

VisibleText = Annotated[str, CleanText(multiline=True, visible=True)]
"""Free-form text with at least one visible character (a question)."""

# Metadata caps: at most 50 entries of a 64-character key and a 512-character text value, so a
# chat's metadata is at most 50 x (64 + 512) characters. Integers are kept if they fit 64 bits and
# stored as floats otherwise (as a JSON number they are one); floats must be finite.
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_CHARS = 64
METADATA_VALUE_MAX_CHARS = 512

MetadataScalar = str | int | float | bool | None
_VALUE_TEXT = CleanText(multiline=True)


def metadata_value(value: Any) -> MetadataScalar:
    """A metadata value as stored, or a validation error saying what is wrong with it."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > METADATA_VALUE_MAX_CHARS:
            raise PydanticCustomError(
                "metadata_value",
                "text values are at most {limit} characters",
                {"limit": METADATA_VALUE_MAX_CHARS},
            )
        return _VALUE_TEXT.check(value)
    if isinstance(value, int) and INT64_MIN <= value <= INT64_MAX:
        return value
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isfinite(number):
            return number
        raise PydanticCustomError("metadata_value", "numbers must be finite")
    raise PydanticCustomError(
        "metadata_value", "must be text, a number, a boolean or null (no nesting)"
    )


_METADATA_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": METADATA_MAX_KEYS,
    "propertyNames": {
        "maxLength": METADATA_KEY_MAX_CHARS,
        "pattern": CleanText().pattern,
    },
    "additionalProperties": {
        "anyOf": [
            {
                "type": "string",
                "maxLength": METADATA_VALUE_MAX_CHARS,
                "pattern": _VALUE_TEXT.pattern,
            },
            {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX},
            {"type": "number", "minimum": -sys.float_info.max, "maximum": sys.float_info.max},
            {"type": "boolean"},
            {"type": "null"},
        ]
    },
}

MetadataKey = Annotated[str, Field(max_length=METADATA_KEY_MAX_CHARS), CleanText()]
Metadata = Annotated[
    dict[MetadataKey, Annotated[MetadataScalar, PlainValidator(metadata_value)]],
    Field(max_length=METADATA_MAX_KEYS),
    WithJsonSchema(_METADATA_JSON_SCHEMA),
]
"""Free key/value pairs: text, numbers, booleans or null; no nesting."""
