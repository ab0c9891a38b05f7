"""Write the example PDF of the knowledge base: Harbor & Pine's Ember kettle manual.

    python examples/build_example_pdf.py [examples/knowledge/ember-kettle-manual.pdf]

A PDF with real text (Helvetica, one text line per line of the source) written by hand in a
few lines of code: no download and no PDF library, and the same bytes on every run (no
timestamps), so the committed file can be checked against this script
(tests/unit/test_example_documents.py). `pdf_document` is also what the tests use to make
PDFs, corrupted ones included.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

OUTPUT = Path(__file__).parent / "knowledge" / "ember-kettle-manual.pdf"
LINE_CHARS = 90
PAGE_LINES = 48

MANUAL = [
    [
        "Ember 1.7 L Electric Kettle - User Manual",
        "Model HP-EK17. Harbor & Pine, 2026 edition.",
        "",
        "Safety first",
        "Use the kettle only on a 220-240 V AC supply. It is not designed for 110-120 V "
        "outlets, and a travel adapter or voltage converter will damage the heating element.",
        "Never immerse the kettle, its base or the cable in water. Keep the base dry.",
        "Fill between the MIN (0.5 L) and MAX (1.7 L) marks. Overfilling makes boiling water "
        "spit from the spout.",
        "Children from 8 years may use the kettle only under supervision.",
        "",
        "First use",
        "Fill the kettle to MAX, boil it, and pour the water away. Do this twice to remove "
        "any manufacturing residue. A faint smell during the first boils is normal.",
    ],
    [
        "Everyday use",
        "Place the kettle on its base and press the switch down: the blue ring lights up. "
        "The kettle switches off by itself when the water boils, and the ring goes dark.",
        "Boil-dry protection: if the kettle is switched on empty, it cuts the power. Let it "
        "cool for 10 minutes before refilling; it then works normally again.",
        "Keep-warm: hold the switch down for 3 seconds after boiling to keep the water at "
        "80 C for up to 30 minutes. The ring blinks while keep-warm is on.",
        "",
        "Descaling",
        "In hard-water areas descale every 4 weeks, elsewhere every 3 months. Fill with a "
        "mix of half water and half white vinegar (or a citric acid descaler), leave it for "
        "one hour without boiling, empty it, then boil clean water twice.",
        "The mesh filter in the spout lifts out for rinsing. A replacement filter (part "
        "HP-EK17-F) costs 4 EUR or 4 GBP from our spare parts page.",
    ],
    [
        "Troubleshooting",
        "The kettle does not switch on: check that the base is plugged in and that the kettle "
        "sits flat on it. If the boil-dry protection tripped, let it cool for 10 minutes.",
        "The kettle switches off before boiling: limescale on the element. Descale it.",
        "Water tastes of plastic: boil and discard fresh water three times. If it persists "
        "after a week, contact us: it is covered by the warranty.",
        "",
        "Warranty and recycling",
        "The Ember kettle has a 2-year warranty from delivery; see our warranty page. "
        "Limescale damage is not covered. Do not put the kettle in household waste: take it "
        "to a collection point for small electrical appliances.",
    ],
]


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_stream(lines: list[str]) -> bytes:
    wrapped = [part for line in lines for part in textwrap.wrap(line, LINE_CHARS) or [""]]
    if len(wrapped) > PAGE_LINES:
        raise ValueError(f"a page holds {PAGE_LINES} lines, got {len(wrapped)}")
    body = " ".join(f"({_escape(line)}) Tj T*" for line in wrapped)
    return f"BT /F1 11 Tf 60 740 Td 14 TL {body} ET".encode("latin-1")


def pdf_document(pages: list[list[str]]) -> bytes:
    """A PDF whose pages show the given lines of text (Latin-1), long lines wrapped."""
    font = 3 + 2 * len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(len(pages)))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
    ]
    for index, lines in enumerate(pages):
        stream = _page_stream(lines)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * index} "
            f"0 R /Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def main(argv: list[str]) -> None:
    """Write the manual to the given path (default: the knowledge directory)."""
    target = Path(argv[0]) if argv else OUTPUT
    target.write_bytes(pdf_document(MANUAL))
    print(f"wrote {target}")  # noqa: T201


if __name__ == "__main__":
    main(sys.argv[1:])
