"""Read one document: decode it, take its text (markdown, plain text, HTML or PDF) and chunk it.

The supported types, by suffix, are defined here; directory.py finds such files in a directory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from qna_agent.knowledge.ingest.chunking import Chunk, chunk_markdown, chunk_text, markdown_title
from qna_agent.knowledge.ingest.decoding import NotText, clean_text, decode_text
from qna_agent.knowledge.ingest.pdf_text import ParseError, TooManyPages, pdf_pages

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
MAX_HEADING_CHARS = 1000  # kb_chunks.heading


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A document read and chunked."""

    path: str
    title: str
    content_hash: str
    size_bytes: int
    chunks: list[Chunk]


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The most work one document may cause (settings KB_MAX_UPLOAD_BYTES, KB_MAX_DOCUMENT_*).

    Embedding is what costs (about 20 passages a second per core), so passages are bounded;
    pages are bounded before their text is extracted.
    """

    max_bytes: int = 10 * 1024 * 1024
    max_pages: int = 500
    max_chunks: int = 2000


class UnreadableDocument(Exception):
    """A file that cannot be indexed; the message says why."""


class DocumentTooLarge(UnreadableDocument):
    """A file over one of the DocumentLimits; the message says which."""


def file_hash(data: bytes) -> str:
    """The content hash that decides whether a document must be re-indexed."""
    return hashlib.sha256(data).hexdigest()


def media_type_of(path: str) -> str | None:
    """The media type a path's suffix stands for, if supported."""
    return MEDIA_TYPES.get(Path(path).suffix.lower())


def _decode(data: bytes, *, html: bool = False) -> str:
    try:
        return decode_text(data, html=html)
    except NotText as exc:
        raise UnreadableDocument(str(exc)) from None


def _pdf_chunks(
    data: bytes, stem: str, size: int, overlap: int, max_pages: int
) -> tuple[str, list[Chunk]]:
    if not data.startswith(b"%PDF-"):
        raise UnreadableDocument("not a PDF file (no %PDF- header)")
    try:
        pages = pdf_pages(data, max_pages=max_pages)
    except TooManyPages as exc:
        raise DocumentTooLarge(f"{exc}, more than KB_MAX_DOCUMENT_PAGES ({max_pages})") from None
    except ParseError as exc:
        raise UnreadableDocument(str(exc)) from None
    chunks: list[Chunk] = []
    for number, page in enumerate(pages, start=1):
        for chunk in chunk_text(
            clean_text(page), size=size, overlap=overlap, heading=f"{stem} > page {number}"
        ):
            # For PDFs the span is in pages: a citation points to the page.
            chunks.append(Chunk(chunk.heading, chunk.content, number, number))
    return stem, chunks


def parse_document(
    path: str,
    data: bytes,
    *,
    chunk_chars: int,
    overlap_chars: int,
    limits: DocumentLimits = DocumentLimits(),
) -> ParsedDocument:
    """Decode and chunk one document; raises UnreadableDocument with a reason.

    CPU-bound (a PDF takes about 2 ms a page): async callers run it in a worker thread.
    """
    if len(data) > limits.max_bytes:
        raise DocumentTooLarge(
            f"{len(data)} bytes, more than KB_MAX_UPLOAD_BYTES ({limits.max_bytes})"
        )
    suffix = Path(path).suffix.lower()
    stem = Path(path).stem.replace("-", " ").replace("_", " ").strip().capitalize() or path
    try:
        title, chunks = _parse(suffix, data, stem, chunk_chars, overlap_chars, limits)
    except UnreadableDocument:
        raise
    except Exception as exc:
        # Parsers fed a damaged or hostile file raise almost anything (pypdf: LimitReachedError,
        # AttributeError...): one bad file is a skipped file, never a failed sync or a 500.
        kind = "PDF" if suffix in PDF_SUFFIXES else "HTML" if suffix in HTML_SUFFIXES else "text"
        raise UnreadableDocument(f"not a readable {kind} file ({type(exc).__name__})") from exc
    if not chunks:
        raise UnreadableDocument("no text")
    if any(len(chunk.heading) > MAX_HEADING_CHARS for chunk in chunks):
        chunks = [replace(chunk, heading=chunk.heading[:MAX_HEADING_CHARS]) for chunk in chunks]
    if len(chunks) > limits.max_chunks:
        raise DocumentTooLarge(
            f"{len(chunks)} passages, more than KB_MAX_DOCUMENT_CHUNKS ({limits.max_chunks})"
        )
    return ParsedDocument(path, title[:500], file_hash(data), len(data), chunks)


def _parse(
    suffix: str, data: bytes, stem: str, size: int, overlap: int, limits: DocumentLimits
) -> tuple[str, list[Chunk]]:
    if suffix in PDF_SUFFIXES:
        return _pdf_chunks(data, stem, size, overlap, limits.max_pages)
    if suffix in HTML_SUFFIXES:
        from qna_agent.knowledge.ingest.html_text import html_to_markdown  # bs4: see html_text.py

        markdown, html_title = html_to_markdown(_decode(data, html=True))
        # Character references (`&#1;`) can bring control characters back.
        markdown = clean_text(markdown)
        title = clean_text(html_title or markdown_title(markdown, stem))
        return title, chunk_markdown(markdown, size=size, overlap=overlap)
    text = _decode(data)
    if suffix in MARKDOWN_SUFFIXES:
        return markdown_title(text, stem), chunk_markdown(text, size=size, overlap=overlap)
    return stem, chunk_text(text, size=size, overlap=overlap, heading=stem)
