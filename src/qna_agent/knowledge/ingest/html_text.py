"""HTML as markdown-like text: headings as `#` lines, `pre` as fenced code, so the page's
structure guides chunking and citations.

Its own module because importing bs4 takes about 125 ms: the loader imports this module only
when a page has to be parsed, and most starts find every document indexed already.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from bs4.element import NavigableString, Tag

_BLOCKS = {"p", "li", "dd", "dt", "blockquote", "figcaption", "caption", "tr", "div", "section"}
_SKIP = {"script", "style", "noscript", "template", "svg", "head", "nav", "footer", "form"}
_SPACES = re.compile(r"[ \t\r\f\v]+")


def html_to_markdown(html: str) -> tuple[str, str | None]:
    """Markdown-like text of an HTML page, and its <title> if any."""
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
