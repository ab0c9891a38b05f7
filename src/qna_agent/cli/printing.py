"""How a turn looks in the terminal: the answer as it streams on stdout, tool activity and
errors on stderr, then the sources the answer cites."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape

from qna_agent.cli.common import err, out


class TurnPrinter:
    """Renders a turn's events: text as it streams, tools on stderr, then the sources."""

    def __init__(self, *, stream: bool = True) -> None:
        self.stream = stream
        self.streamed = False
        self.message: dict[str, Any] | None = None
        self.error: str | None = None

    def handle(self, event: str, data: dict[str, Any]) -> None:
        """One event of the turn."""
        if event == "tool.call" and self.stream:
            arguments = json.dumps(data.get("arguments") or {}, ensure_ascii=False)
            err.print(f"[dim]> {escape(data['name'])} {escape(arguments[:200])}[/]")
        elif event == "tool.result" and self.stream:
            summary = str(data.get("result_summary") or "").split("\n", 1)[0]
            status = "green" if data.get("status") == "ok" else "red"
            err.print(
                f"[dim]  [{status}]{escape(str(data.get('status')))}[/] {escape(summary[:200])} "
                f"({float(data.get('duration_ms') or 0):.0f} ms)[/]"
            )
        elif event == "message.delta" and self.stream:
            out.print(data["delta"], end="", markup=False, highlight=False, soft_wrap=True)
            self.streamed = True
        elif event == "message.completed":
            self.message = data
        elif event == "error":
            self.message = data.get("message")
            self.error = str((data.get("problem") or {}).get("detail") or "the turn failed")

    @property
    def completed(self) -> bool:
        """Whether the turn ended with an answer."""
        return self.error is None and (self.message or {}).get("status") == "completed"

    def finish(self) -> None:
        """End the streamed line; print the answer if it did not stream, and its sources."""
        if not self.stream:
            return
        if self.message and self.completed and not self.streamed:
            out.print(self.message.get("content", ""), markup=False, highlight=False)
        elif self.streamed:
            out.print()
        if self.message and self.completed:
            print_citations(self.message.get("citations") or [])
        if self.message and self.completed and self.message.get("finish_reason") == "length":
            err.print("[yellow]note:[/] the answer was cut at the model's output limit")
        if self.error is not None:
            err.print(f"[red]error:[/] {escape(self.error)}")
        elif self.message is None:
            err.print("[red]error:[/] the answer ended before it finished")


def lines_of(citation: dict[str, Any]) -> str:
    """`, lines 9-13` when the citation knows where it is."""
    start, end = citation.get("start_line"), citation.get("end_line")
    if start is None:
        return ""
    return f", lines {start}-{end}" if end not in (None, start) else f", line {start}"


def print_citations(citations: list[dict[str, Any]]) -> None:
    """The sources an answer cites, one per line."""
    if not citations:
        return
    out.print("\n[bold]Sources[/]")
    for citation in citations:
        where = citation.get("heading") or citation.get("title") or ""
        out.print(
            f"  [bold cyan]\\[{citation['ref']}][/] {escape(where)} "
            f"[dim]({escape(str(citation['source']))}{lines_of(citation)})[/]",
            highlight=False,
        )
