"""Split documents into passages that keep their heading path and line span.

Markdown is cut at headings first, then at blank lines between paragraphs; a fenced code block
is never cut unless it alone is far larger than a chunk. Consecutive chunks of one section
share up to `overlap` characters of trailing paragraphs so a sentence near a boundary is
found from either side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
HEADING_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a document. Lines are 1-based and inclusive."""

    heading: str
    content: str
    start_line: int
    end_line: int


@dataclass(slots=True)
class _Block:
    text: str
    start_line: int
    end_line: int
    is_code: bool = False


@dataclass(slots=True)
class _Section:
    heading: str
    blocks: list[_Block]


def markdown_title(text: str, fallback: str) -> str:
    """The first level-one heading of a markdown text, or `fallback`."""
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = _HEADING.match(line)
        if match and not in_fence and len(match.group(1)) == 1:
            return match.group(2).strip()
    return fallback


def _sections(lines: list[str], *, markdown: bool = True) -> list[_Section]:
    """Group lines into sections by heading, and sections into paragraph/code blocks."""
    stack: list[str] = []
    sections = [_Section("", [])]
    current: list[tuple[int, str]] = []
    fence: str | None = None

    def flush(is_code: bool = False) -> None:
        if current and any(text.strip() for _, text in current):
            body = "\n".join(text for _, text in current).strip("\n")
            sections[-1].blocks.append(_Block(body, current[0][0], current[-1][0], is_code))
        current.clear()

    for number, line in enumerate(lines, start=1):
        fence_match = _FENCE.match(line) if markdown else None
        if fence is not None:
            current.append((number, line))
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
            ):
                fence = None
                flush(is_code=True)
            continue
        if fence_match:
            flush()
            fence = fence_match.group(1)
            current.append((number, line))
            continue
        heading = _HEADING.match(line) if markdown else None
        if heading:
            flush()
            level = len(heading.group(1))
            del stack[level - 1 :]
            stack.extend([""] * (level - 1 - len(stack)))
            stack.append(heading.group(2).strip())
            sections.append(_Section(HEADING_SEPARATOR.join(h for h in stack if h), []))
            continue
        if not line.strip():
            flush()
            continue
        current.append((number, line))
    flush(is_code=fence is not None)
    return [section for section in sections if section.blocks]


def _split_long(block: _Block, limit: int) -> list[_Block]:
    """Split an over-long block at sentence (prose) or line (code) boundaries."""
    if len(block.text) <= limit or (block.is_code and len(block.text) <= 4 * limit):
        return [block]
    pieces = block.text.split("\n") if block.is_code else _SENTENCE_END.split(block.text)
    out: list[_Block] = []
    buffer = ""
    for piece in pieces:
        joiner = "\n" if block.is_code else " "
        candidate = f"{buffer}{joiner}{piece}" if buffer else piece
        if buffer and len(candidate) > limit:
            out.append(_Block(buffer, block.start_line, block.end_line, block.is_code))
            buffer = piece
        else:
            buffer = candidate
    if buffer:
        out.append(_Block(buffer, block.start_line, block.end_line, block.is_code))
    # A hard cut for text without any boundary (a minified line, say).
    return [
        _Block(b.text[i : i + limit], b.start_line, b.end_line, b.is_code)
        for b in out
        for i in range(0, len(b.text), limit)
    ]


def _pack(section: _Section, size: int, overlap: int) -> list[Chunk]:
    blocks = [piece for block in section.blocks for piece in _split_long(block, size)]
    chunks: list[Chunk] = []
    current: list[_Block] = []

    def emit() -> None:
        text = "\n\n".join(b.text for b in current)
        chunks.append(Chunk(section.heading, text, current[0].start_line, current[-1].end_line))

    fresh = 0  # blocks in `current` not already emitted in a previous chunk
    for block in blocks:
        length = sum(len(b.text) + 2 for b in current) + len(block.text)
        if current and fresh and length > size:
            emit()
            carried: list[_Block] = []
            budget = overlap
            for previous in reversed(current):
                if len(previous.text) > budget:
                    break
                carried.insert(0, previous)
                budget -= len(previous.text)
            current = carried
            fresh = 0
        current.append(block)
        fresh += 1
    if current and fresh:
        emit()
    return chunks


def chunk_markdown(text: str, *, size: int, overlap: int) -> list[Chunk]:
    """Chunk a markdown document by headings, paragraphs and code blocks."""
    return [
        chunk for section in _sections(text.splitlines()) for chunk in _pack(section, size, overlap)
    ]


def chunk_text(text: str, *, size: int, overlap: int, heading: str = "") -> list[Chunk]:
    """Chunk plain text by paragraphs (no headings)."""
    sections = _sections(text.splitlines(), markdown=False)
    chunks: list[Chunk] = []
    for section in sections:
        section.heading = heading
        chunks.extend(_pack(section, size, overlap))
    return chunks
