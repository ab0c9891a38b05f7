"""Where a SQL statement ends: quotes, quoted names, comments and $tag$ bodies skipped.

The model is told early, and in words it can act on, that it sent two statements; the databases
would refuse the second one anyway.
"""

from __future__ import annotations

import re

from qna_agent.agent.tools.sql.backends import ONE_STATEMENT
from qna_agent.agent.tools.sql.results import SqlToolError

_TRIVIA = re.compile(r"(?:\s|;|--[^\n]*(?:\n|\Z)|/\*.*?\*/)*", re.DOTALL)
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_CLOSERS = {"'": "'", '"': '"', "`": "`", "[": "]", "--": "\n", "/*": "*/"}


def _skip_quoted(query: str, start: int) -> int | None:
    """The index after the string, quoted name, comment or $tag$ body at `start`, if any."""
    for opener, closer in _CLOSERS.items():
        if query.startswith(opener, start):
            end = query.find(closer, start + len(opener))
            return len(query) if end < 0 else end + len(closer)
    tag = _DOLLAR_TAG.match(query, start)
    if tag:
        end = query.find(tag.group(), tag.end())
        return len(query) if end < 0 else end + len(tag.group())
    return None


def single_statement(query: str) -> str:
    """The query without a trailing `;`; refuses anything but comments after a semicolon.

    Only a clearer, earlier message: both databases refuse a second statement themselves.
    """
    index = 0
    while index < len(query):
        after = _skip_quoted(query, index)
        if after is not None:
            index = after
        elif query[index] == ";":
            if not _TRIVIA.fullmatch(query, index):
                raise SqlToolError(ONE_STATEMENT)
            return query[:index].strip()
        else:
            index += 1
    return query.strip()


def is_blank(query: str) -> bool:
    """True when the query holds nothing but whitespace, semicolons and comments."""
    return _TRIVIA.fullmatch(query) is not None
