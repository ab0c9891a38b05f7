"""Split documents into passages that keep their heading path and line span.

Markdown is cut at headings first (`#` and underlined), then at blank lines between paragraphs;
a code block (fenced or indented) is never cut unless it alone is far larger than a chunk.
Consecutive chunks of one section share up to `overlap` characters of trailing paragraphs so a
sentence near a boundary is found from either side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# ATX headings: up to 3 spaces of indent; a closing run of `#` only after a space ("C#" stays).
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
# Setext underlines: `===` makes the paragraph above a level-1 heading, `---` level 2.
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_INDENTED = re.compile(r"^(?: {4}|\t)")
_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")
_NOT_SETEXT = re.compile(r"^ {0,3}(?:[-*+>]|\d{1,9}[.)])(?:[ \t]|$)")  # list item, quote
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
    """The first level-one heading (`# Title`, or `Title` underlined with `===`), or `fallback`."""
    in_fence = False
    previous = ""
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        match = _HEADING.match(line)
        if match and len(match.group(1)) == 1:
            return match.group(2).strip()
        setext = _SETEXT.match(line)
        if setext and setext.group(1)[0] == "=" and previous and not _NOT_SETEXT.match(previous):
            return previous.strip()
        previous = line if line.strip() else ""
    return fallback


class _Sectioner:
    """Markdown lines to sections (by heading) of paragraph and code blocks.

    Recognises ATX (`#`) and setext (underlined) headings, fenced and indented code blocks,
    and YAML front matter (kept as text, never a heading). With `markdown=False` every line
    is text and only blank lines separate blocks.
    """

    def __init__(self, markdown: bool) -> None:
        self.markdown = markdown
        self.stack: list[str] = []
        self.sections = [_Section("", [])]
        self.current: list[tuple[int, str]] = []
        self.fence: str | None = None
        self.indented = False  # inside an indented code block
        self.in_list = False  # indented lines continue a list item, they are not code

    def flush(self, is_code: bool = False) -> None:
        if self.current and any(text.strip() for _, text in self.current):
            body = "\n".join(text for _, text in self.current).strip("\n")
            block = _Block(body, self.current[0][0], self.current[-1][0], is_code)
            self.sections[-1].blocks.append(block)
        self.current.clear()

    def heading(self, level: int, title: str) -> None:
        del self.stack[level - 1 :]
        self.stack.extend([""] * (level - 1 - len(self.stack)))
        self.stack.append(title.strip())
        self.sections.append(_Section(HEADING_SEPARATOR.join(h for h in self.stack if h), []))
        self.in_list = False

    def run(self, lines: list[str]) -> list[_Section]:
        start = self._front_matter(lines) if self.markdown else 0
        for number, line in enumerate(lines[start:], start=start + 1):
            if not self.markdown:
                self._text(number, line)
            elif self.fence is not None:
                self._in_fence(number, line)
            elif self.indented and (_INDENTED.match(line) or not line.strip()):
                self.current.append((number, line))
            else:
                if self.indented:
                    self._end_indented()
                self._markdown(number, line)
        if self.indented:
            self._end_indented()
        else:
            self.flush(is_code=self.fence is not None)
        return [section for section in self.sections if section.blocks]

    def _front_matter(self, lines: list[str]) -> int:
        if not lines or lines[0].rstrip() != "---":
            return 0
        for index in range(1, len(lines)):
            if lines[index].rstrip() in ("---", "..."):
                self.current.extend(enumerate(lines[: index + 1], start=1))
                self.flush()
                return index + 1
        return 0

    def _text(self, number: int, line: str) -> None:
        if line.strip():
            self.current.append((number, line))
        else:
            self.flush()

    def _in_fence(self, number: int, line: str) -> None:
        self.current.append((number, line))
        match = _FENCE.match(line)
        assert self.fence is not None
        if match and match.group(1)[0] == self.fence[0] and len(match.group(1)) >= len(self.fence):
            self.fence = None
            self.flush(is_code=True)

    def _end_indented(self) -> None:
        while self.current and not self.current[-1][1].strip():
            self.current.pop()  # trailing blank lines belong to no block
        self.indented = False
        self.flush(is_code=True)

    def _markdown(self, number: int, line: str) -> None:
        fence = _FENCE.match(line)
        if fence:
            self.flush()
            self.fence = fence.group(1)
            self.current.append((number, line))
        elif heading := _HEADING.match(line):
            self.flush()
            self.heading(len(heading.group(1)), heading.group(2))
        elif (setext := _SETEXT.match(line)) and self._paragraph_can_be_heading():
            title = " ".join(text.strip() for _, text in self.current)
            self.current.clear()
            self.heading(1 if setext.group(1)[0] == "=" else 2, title)
        elif not line.strip():
            self.flush()
        elif _INDENTED.match(line) and not self.current and not self.in_list:
            self.indented = True  # an indented code block (it cannot interrupt a paragraph)
            self.current.append((number, line))
        else:
            if _LIST_ITEM.match(line):
                self.in_list = True
            elif not _INDENTED.match(line) and not self.current:
                self.in_list = False  # a new paragraph at the margin ends the list
            self.current.append((number, line))

    def _paragraph_can_be_heading(self) -> bool:
        return bool(self.current) and not _NOT_SETEXT.match(self.current[0][1])


def _sections(lines: list[str], *, markdown: bool = True) -> list[_Section]:
    """Group lines into sections by heading, and sections into paragraph/code blocks."""
    return _Sectioner(markdown).run(lines)


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
