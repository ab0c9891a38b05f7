"""Documents for knowledge-base tests: valid PDFs, and files every parser chokes on."""

from __future__ import annotations

from examples.build_example_pdf import pdf_document

__all__ = ["corrupted_pdfs", "make_pdf", "pdf_document"]


def make_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF with the given lines of text (Helvetica)."""
    return pdf_document([lines])


def corrupted_pdfs() -> dict[str, bytes]:
    """Damaged PDFs, each tripping a different failure of pypdf 7 (found by fuzzing)."""
    good = make_pdf(["Quokka lamp manual"])
    return {
        # AttributeError: 'NumberObject' object has no attribute 'items'
        "trailer.pdf": good.replace(b"trailer\n<<", b"trailer+<<"),
        # LimitReachedError: a loop of self references
        "loop.pdf": good.replace(b"/Catalog", b"/Catal&g").replace(
            b"3 0 obj\n<<", b"3 0 obj\n<\xdc"
        ),
        # PdfReadError: a cycle in the page tree
        "cycle.pdf": good.replace(b"/Kids [3 0 R]", b"/Kids [2 0 R]"),
        "truncated.pdf": good[: len(good) // 2],
        "header-only.pdf": b"%PDF-1.7\n",
    }
