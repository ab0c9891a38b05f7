"""Find and read the documents of a knowledge directory.

Works on a directory as Kubernetes mounts a ConfigMap: files there are symlinks into a hidden
`..data` directory, so hidden entries are skipped and links are followed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qna_agent.knowledge.chunking import Chunk, chunk_markdown, chunk_text, markdown_title
from qna_agent.knowledge.parsers import ParseError, html_to_markdown, pdf_pages

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
MEDIA_TYPES = {
    **dict.fromkeys(MARKDOWN_SUFFIXES, "text/markdown"),
    **dict.fromkeys(TEXT_SUFFIXES, "text/plain"),
    **dict.fromkeys(HTML_SUFFIXES, "text/html"),
    **dict.fromkeys(PDF_SUFFIXES, "application/pdf"),
}
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 16


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file found in the knowledge directory."""

    path: str  # relative, with forward slashes: the document's identity
    absolute: Path


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A document read and chunked."""

    path: str
    title: str
    content_hash: str
    size_bytes: int
    chunks: list[Chunk]


class UnreadableDocument(Exception):
    """A file that cannot be indexed; the message says why."""


def scan(directory: Path) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Supported files under `directory`, and skipped ones with the reason."""
    found: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    for absolute in _walk(directory):
        relative = absolute.relative_to(directory).as_posix()
        if absolute.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append((relative, f"unsupported file type '{absolute.suffix or '(none)'}'"))
            continue
        found.append(SourceFile(relative, absolute))
    found.sort(key=lambda source: source.path)
    return found, skipped


def _walk(directory: Path, depth: int = 0) -> Iterator[Path]:
    # Depth-limited: a symlink loop in a mounted volume must not hang the scan.
    if depth > MAX_DEPTH or not directory.is_dir():
        return
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry, depth + 1)
        elif entry.is_file():
            yield entry


def file_hash(data: bytes) -> str:
    """The content hash that decides whether a document must be re-indexed."""
    return hashlib.sha256(data).hexdigest()


def media_type_of(path: str) -> str | None:
    """The media type a path's suffix stands for, if supported."""
    return MEDIA_TYPES.get(Path(path).suffix.lower())


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"not UTF-8 text (byte {exc.start})") from None


def _pdf_chunks(data: bytes, stem: str, size: int, overlap: int) -> tuple[str, list[Chunk]]:
    if not data.startswith(b"%PDF-"):
        raise UnreadableDocument("not a PDF file (no %PDF- header)")
    try:
        pages = pdf_pages(data)
    except ParseError as exc:
        raise UnreadableDocument(str(exc)) from None
    chunks: list[Chunk] = []
    for number, page in enumerate(pages, start=1):
        for chunk in chunk_text(
            page, size=size, overlap=overlap, heading=f"{stem} > page {number}"
        ):
            # For PDFs the span is in pages: a citation points to the page.
            chunks.append(Chunk(chunk.heading, chunk.content, number, number))
    return stem, chunks


def parse_document(
    path: str, data: bytes, *, chunk_chars: int, overlap_chars: int
) -> ParsedDocument:
    """Decode and chunk one document; raises UnreadableDocument with a reason."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableDocument(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    suffix = Path(path).suffix.lower()
    stem = Path(path).stem.replace("-", " ").replace("_", " ").strip().capitalize() or path
    if suffix in PDF_SUFFIXES:
        title, chunks = _pdf_chunks(data, stem, chunk_chars, overlap_chars)
    elif suffix in HTML_SUFFIXES:
        markdown, html_title = html_to_markdown(_decode(data))
        title = html_title or markdown_title(markdown, stem)
        chunks = chunk_markdown(markdown, size=chunk_chars, overlap=overlap_chars)
    elif suffix in MARKDOWN_SUFFIXES:
        text = _decode(data)
        title = markdown_title(text, stem)
        chunks = chunk_markdown(text, size=chunk_chars, overlap=overlap_chars)
    else:
        title = stem
        chunks = chunk_text(_decode(data), size=chunk_chars, overlap=overlap_chars, heading=title)
    if not chunks:
        raise UnreadableDocument("no text")
    return ParsedDocument(path, title[:500], file_hash(data), len(data), chunks)
