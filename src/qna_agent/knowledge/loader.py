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

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | TEXT_SUFFIXES
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


def parse_document(
    path: str, data: bytes, *, chunk_chars: int, overlap_chars: int
) -> ParsedDocument:
    """Decode and chunk one document; raises UnreadableDocument with a reason."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableDocument(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"not UTF-8 text (byte {exc.start})") from None
    stem = Path(path).stem.replace("-", " ").replace("_", " ").strip().capitalize() or path
    if Path(path).suffix.lower() in MARKDOWN_SUFFIXES:
        title = markdown_title(text, stem)
        chunks = chunk_markdown(text, size=chunk_chars, overlap=overlap_chars)
    else:
        title = stem
        chunks = chunk_text(text, size=chunk_chars, overlap=overlap_chars, heading=title)
    if not chunks:
        raise UnreadableDocument("no text")
    return ParsedDocument(path, title[:500], file_hash(data), len(data), chunks)
