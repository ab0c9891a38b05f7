"""Bytes of a text or HTML document to clean text.

Knowledge directories collect files from many editors, so a file that is not UTF-8 is decoded
rather than refused: a byte-order mark first (UTF-8/16/32), then UTF-8, then (HTML only) the
charset the page declares, then Windows-1252 and finally Latin-1, which decodes anything.
UTF-8 comes before the declared charset because a page that is valid UTF-8 but declares
Latin-1 is a common authoring mistake, while Latin-1 text that happens to be valid UTF-8 is
rare.

Control characters carry no text and NUL cannot be stored in PostgreSQL text at all, so they
are removed. A file where they are more than `BINARY_CONTROL_SHARE` of the characters is not
text (an image renamed `.txt`, say) and is refused.
"""

from __future__ import annotations

import codecs
import re

# Every C0/C1 control but tab, line feed, vertical tab, form feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
# Random bytes are about 11% C0 controls; prose has none, a stray NUL or two at most.
BINARY_CONTROL_SHARE = 0.05
# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class NotText(ValueError):
    """The bytes are not text in any encoding we accept; the message says why."""


def decode_text(data: bytes, *, html: bool = False) -> str:
    """The text of a document's bytes, control characters removed; raises NotText."""
    return clean_text(_decode(data, html=html), refuse_binary=True)


def clean_text(text: str, *, refuse_binary: bool = False) -> str:
    """`text` without control characters (NUL included); optionally refuse binary data."""
    controls = len(_CONTROL.findall(text))
    if not controls:
        return text
    if refuse_binary and controls > BINARY_CONTROL_SHARE * len(text):
        raise NotText(f"binary data, not text ({controls} control characters)")
    return _CONTROL.sub("", text)


def _decode(data: bytes, *, html: bool) -> str:
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as exc:
                raise NotText(f"invalid {codec.upper()} text (byte {exc.start})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from bs4.dammit import EncodingDetector  # here: importing bs4 is slow, see html_text.py

    declared = EncodingDetector.find_declared_encoding(data, is_html=True) if html else None
    for codec in [declared, "cp1252"] if declared else ["cp1252"]:
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1")
