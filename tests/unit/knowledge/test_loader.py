"""Reading documents: any encoding decoded, control characters removed, any parser failure
and any document over the limits turned into an UnreadableDocument with a reason."""

from __future__ import annotations

import pytest

from qna_agent.knowledge.ingest.decoding import NotText, decode_text
from qna_agent.knowledge.ingest.loader import (
    DocumentLimits,
    DocumentTooLarge,
    UnreadableDocument,
    parse_document,
)
from tests.support.documents import corrupted_pdfs, make_pdf, pdf_document


def parse(path: str, data: bytes, **limits: int) -> list[str]:
    document = parse_document(
        path, data, chunk_chars=400, overlap_chars=0, limits=DocumentLimits(**limits)
    )
    return [chunk.content for chunk in document.chunks]


@pytest.mark.parametrize(
    ("data", "html", "expected"),
    [
        ("crème brûlée".encode(), False, "crème brûlée"),
        ("\ufeffcrème".encode(), False, "crème"),
        ("crème".encode("utf-16"), False, "crème"),
        ("crème".encode("utf-32"), False, "crème"),
        ("crème – 5 €".encode("cp1252"), False, "crème – 5 €"),
        # Not UTF-8, and 0x81 is not in Windows-1252: Latin-1, the control removed.
        (b"caf\xe9 au lait \x81 with cr\xe8me, every morning", False, "café au lait  with"),
        (b'<meta charset="iso-8859-7"><p>\xe1\xe2\xe3</p>', True, "αβγ"),
        (b'<meta charset="no-such-codec"><p>caf\xe9</p>', True, "café"),
        (b"tab\tand\r\nform\x0cfeed stay", False, "tab\tand\r\nform\x0cfeed stay"),
        (
            b"a stray\x00 NUL and an \x1b escape in a line of text",
            False,
            "a stray NUL and an  escape",
        ),
    ],
)
def test_text_is_decoded_and_cleaned(data: bytes, html: bool, expected: str) -> None:
    decoded = decode_text(data, html=html)
    assert expected in decoded
    assert "\x00" not in decoded


def test_binary_data_is_not_text() -> None:
    with pytest.raises(NotText, match="binary data"):
        decode_text(bytes(range(256)) * 4)
    with pytest.raises(NotText, match="UTF-16"):
        decode_text("\ufeffodd".encode("utf-16-le") + b"\x00")


@pytest.mark.parametrize("name", sorted(corrupted_pdfs()))
def test_any_pdf_failure_is_an_unreadable_document(name: str) -> None:
    with pytest.raises(UnreadableDocument, match="PDF"):
        parse(name, corrupted_pdfs()[name])


def test_pdf_text_is_cleaned() -> None:
    assert parse("nul.pdf", make_pdf(["Quokka\x01 bulb"])) == ["Quokka bulb"]


def test_limits_refuse_before_the_expensive_part() -> None:
    with pytest.raises(DocumentTooLarge, match="more than KB_MAX_UPLOAD_BYTES"):
        parse("big.md", b"x" * 2048, max_bytes=1024)
    three_pages = pdf_document([["one"], ["two"], ["three"]])
    assert parse("three.pdf", three_pages, max_pages=3) == ["one", "two", "three"]
    with pytest.raises(DocumentTooLarge, match="3 pages, more than KB_MAX_DOCUMENT_PAGES"):
        parse("three.pdf", three_pages, max_pages=2)
    many = "\n\n".join(f"Paragraph {i} " + "word " * 60 for i in range(10)).encode()
    assert len(parse("many.txt", many, max_chunks=10)) == 10
    with pytest.raises(DocumentTooLarge, match="10 passages, more than KB_MAX_DOCUMENT_CHUNKS"):
        parse("many.txt", many, max_chunks=9)


def test_headings_fit_their_column() -> None:
    nested = "".join(f"{'#' * level} {'h' * 300}\n\n" for level in range(1, 6)) + "text\n"
    (chunk,) = parse_document("deep.md", nested.encode(), chunk_chars=400, overlap_chars=0).chunks
    assert len(chunk.heading) == 1000
