"""Turn HTML and PDF files into text the chunker understands.

HTML becomes markdown-like text (headings as `#` lines, `pre` as fenced code) so its structure
guides chunking and citations. PDF text is taken page by page with pypdf (pure Python); each
page becomes a section whose heading names the page.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bs4.element import Tag

# bs4 and pypdf are imported where a document needs them: importing bs4 took 125 ms of the
# service's start (docs/benchmarks.md), and most starts find every document indexed already.

_BLOCKS = {"p", "li", "dd", "dt", "blockquote", "figcaption", "caption", "tr", "div", "section"}
_SKIP = {"script", "style", "noscript", "template", "svg", "head", "nav", "footer", "form"}
_SPACES = re.compile(r"[ \t\r\f\v]+")


class ParseError(Exception):
    """The file is not a readable document of its type."""


class TooManyPages(ParseError):
    """The document has more pages than one document may have."""


def html_to_markdown(html: str) -> tuple[str, str | None]:
    """Markdown-like text of an HTML page, and its <title> if any."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title_tag = soup.find("title")
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    for tag in soup.find_all(_SKIP):
        tag.decompose()
    lines: list[str] = []
    _walk(soup.body or soup, lines)
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", title or None


def _inline(tag: Tag) -> str:
    return _SPACES.sub(" ", tag.get_text(" ", strip=True))


def _walk(node: Tag, lines: list[str]) -> None:
    from bs4.element import NavigableString, Tag

    for child in node.children:
        if isinstance(child, NavigableString):
            text = _SPACES.sub(" ", str(child)).strip()
            if text:
                lines.append(text)
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name.lower()
        if re.fullmatch(r"h[1-6]", name):
            heading = _inline(child)
            if heading:
                lines.extend(["", "#" * int(name[1]) + " " + heading, ""])
        elif name == "pre":
            lines.extend(["", "```", child.get_text().strip("\n"), "```", ""])
        elif name in _BLOCKS and not child.find(["h1", "h2", "h3", "h4", "h5", "h6", "pre", "p"]):
            text = _inline(child)
            if text:
                prefix = "- " if name == "li" else ""
                lines.extend([prefix + text, ""])
        else:
            _walk(child, lines)


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
