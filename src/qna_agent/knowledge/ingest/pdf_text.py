"""Turn PDF files into text the chunker understands (HTML: `html_text.py`).

PDF text is taken page by page with pypdf (pure Python); each page becomes a section whose
heading names the page. pypdf is imported when a PDF needs it.
"""

from __future__ import annotations

import io


class ParseError(Exception):
    """The file is not a readable document of its type."""


class TooManyPages(ParseError):
    """The document has more pages than one document may have."""


def pdf_pages(data: bytes, *, max_pages: int) -> list[str]:
    """The text of each page of a PDF (empty strings for pages without text).

    pypdf on a damaged file may raise almost anything (LimitReachedError, AttributeError...);
    the caller treats any exception as an unreadable document.
    """
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise ParseError("the PDF is encrypted")
    # Counting pages is cheap; extracting their text is what costs (2 ms a page).
    if len(reader.pages) > max_pages:
        raise TooManyPages(f"{len(reader.pages)} pages")
    return [(page.extract_text() or "").strip() for page in reader.pages]
