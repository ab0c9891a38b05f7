"""What the read-only SQL tool returns, the one error it raises, and how results read to a model.

Values are converted to JSON-safe types so a result can go to the model and to a UI unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

JsonValue = str | int | float | bool | None | list["JsonValue"]


class SqlToolError(Exception):
    """Any refusal or failure of the SQL tool. The message tells a model how to fix its call."""

    def __init__(self, message: str, *, missing_table: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Set when the query named an unknown table, so the toolbox can list the real ones.
        self.missing_table = missing_table


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One table or view the model may query."""

    name: str
    kind: str  # "table" or "view"


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    primary_key: bool
    default: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKey:
    column: str
    references_table: str
    references_column: str


@dataclass(frozen=True, slots=True)
class TableDescription:
    """Columns, keys and a few sample rows of one table."""

    name: str
    kind: str
    columns: list[ColumnInfo]
    foreign_keys: list[ForeignKey]
    sample_columns: list[str]
    sample_rows: list[list[JsonValue]]

    @property
    def primary_key(self) -> list[str]:
        return [column.name for column in self.columns if column.primary_key]

    def render(self) -> str:
        """Compact text for a model: one line per column, then keys and sample rows."""
        lines = [f"{self.kind} {self.name}"]
        for column in self.columns:
            flags = [] if column.nullable else ["not null"]
            if column.primary_key:
                flags.append("primary key")
            if column.default is not None:
                flags.append(f"default {column.default}")
            detail = f" ({', '.join(flags)})" if flags else ""
            lines.append(f"  {column.name} {column.type}{detail}")
        for key in self.foreign_keys:
            lines.append(
                f"  foreign key {key.column} -> {key.references_table}.{key.references_column}"
            )
        lines.append(f"sample rows ({len(self.sample_rows)}):")
        lines.append(markdown_table(self.sample_columns, self.sample_rows))
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Rows of one query, capped; `truncation` says why rows were left off, if any were."""

    query: str
    columns: list[str]
    rows: list[list[JsonValue]]
    truncated: bool
    truncation: str | None
    duration_ms: float

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def render(self) -> str:
        """The result as a model should read it: a count line, a markdown table, a note."""
        head = f"{_rows(self.row_count)}{' (truncated)' if self.truncated else ''}"
        parts = [head]
        if self.columns:
            parts.append(markdown_table(self.columns, self.rows))
        if self.truncation:
            parts.append(f"Note: {self.truncation}")
        return "\n".join(parts)

    def summary(self, width: int = 80) -> str:
        """One line for a UI: `12 rows from: SELECT ...`."""
        query = " ".join(self.query.split())
        if len(query) > width:
            query = query[: width - 1] + "…"
        more = "+" if self.truncated else ""
        return f"{_rows(self.row_count)}{more} from: {query}"


def _rows(count: int) -> str:
    return f"{count} row{'' if count == 1 else 's'}"


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[JsonValue]]) -> str:
    """A markdown table; pipes and line breaks inside cells are escaped to keep one row a line."""
    lines = [
        "| " + " | ".join(_cell(name) for name in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    lines.extend("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows)
    return "\n".join(lines)


def _cell(value: JsonValue) -> str:
    if value is None:
        return "NULL"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.replace("|", "\\|").replace("\r", "").replace("\n", "\\n")


def to_json_safe(value: object, *, max_chars: int) -> JsonValue:
    """Convert one database value to JSON: exact decimals as strings, times as ISO 8601."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if isinstance(value, list | tuple):
        return [to_json_safe(item, max_chars=max_chars) for item in value]
    text = _as_text(value)
    if len(text) > max_chars:
        return f"{text[:max_chars]}… ({len(text)} characters, cut)"
    return text


def _as_text(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal) and value.is_finite():
        return format(value.normalize(), "f")  # exact, without trailing zeros: 12.5, not 12.50000
    return str(value)  # str as is; Decimal exactly; UUID, timedelta, ranges and the rest readably


def cap_rows(
    rows: Iterable[Sequence[object]], *, max_bytes: int, max_chars: int
) -> tuple[list[list[JsonValue]], bool]:
    """JSON-safe rows up to `max_bytes` of encoded JSON; True when a row was left off."""
    kept: list[list[JsonValue]] = []
    size = 2  # the enclosing brackets
    for row in rows:
        converted = [to_json_safe(value, max_chars=max_chars) for value in row]
        size += len(json.dumps(converted, ensure_ascii=False).encode()) + 1
        if size > max_bytes:
            return kept, True
        kept.append(converted)
    return kept, False
