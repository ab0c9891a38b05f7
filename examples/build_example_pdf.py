"""Write the example PDF of the knowledge base: the Harbor 1.7 L kettle's user manual.

    python examples/build_example_pdf.py [examples/knowledge/harbor-kettle-manual.pdf]

A PDF with real text (Helvetica, one text line per line of the source) written by hand in a
few lines of code: no download and no PDF library, and the same bytes on every run (no
timestamps), so the committed file can be checked against this script
(tests/unit/knowledge/test_example_documents.py). `pdf_document` is also what the tests use to make
PDFs, corrupted ones included.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

OUTPUT = Path(__file__).parent / "knowledge" / "harbor-kettle-manual.pdf"
LINE_CHARS = 90
PAGE_LINES = 48

MANUAL = [
    [
        "Harbor 1.7 L Electric Kettle - User Manual",
        "Models KT-HARBOR-17-EU (UK and EU, 220-240 V) and KT-HARBOR-17-US (US and Canada, "
        "120 V). Harbor & Pine, 2026 edition.",
        "",
        "Safety",
        "Use the kettle only on the voltage printed under its base. A UK or EU model used in "
        "North America with a travel plug adapter or a voltage converter overheats, and the "
        "damage is not covered by the warranty.",
        "Never put the kettle, its power base or the cable in water or in a dishwasher.",
        "Fill between the MIN (0.5 L) and MAX (1.7 L) marks. Above MAX, boiling water can spit "
        "out of the spout.",
        "Children aged 8 and over may use the kettle only under supervision.",
        "",
        "Before first use",
        "Fill the kettle to MAX, boil it and pour the water away. Do this twice. A faint smell "
        "during the first boils is normal and goes away.",
        "The power base stores surplus cable underneath: wind it round the base and lead it out "
        "through the slot on the side that suits your kitchen.",
    ],
    [
        "Everyday use",
        "Put the kettle on its base and press the switch down: the ring around the switch "
        "lights up blue. The kettle switches itself off when the water boils and the ring "
        "goes dark. Lift the kettle off the base to pour; it can be set down in any direction.",
        "Keep-warm: after boiling, hold the switch down for 3 seconds. The ring blinks and the "
        "kettle keeps the water at about 80 degrees C for up to 30 minutes, then switches off. "
        "Press the switch again to stop keep-warm early.",
        "Boil-dry protection: switched on empty, the kettle cuts the power by itself. Let it "
        "cool for 10 minutes before you refill it; it then works normally again.",
        "",
        "Cleaning and descaling",
        "Wipe the outside with a damp cloth; no abrasive cleaners on the stainless steel.",
        "Descale every 4 weeks in a hard-water area and every 12 weeks where the water is soft: "
        "500 ml of water and 500 ml of white vinegar, boil once, switch off, leave it for 30 "
        "minutes, pour away and rinse, then boil fresh water twice.",
        "The mesh limescale filter slides out of the spout for rinsing. A replacement filter, "
        "part KT-HARBOR-17-F, costs 4 EUR / 4 GBP / 5 USD from our spare parts page.",
    ],
    [
        "Troubleshooting",
        "The kettle does not switch on: check that the base is plugged in and switched on at "
        "the wall, and that the kettle sits flat on the base. If boil-dry protection cut the "
        "power, let it cool for 10 minutes.",
        "It switches off before the water boils: limescale on the heating plate. Descale it.",
        "The water tastes of plastic: boil a full kettle and pour it away three times. If the "
        "taste is still there after a week of use, contact us: that is a warranty case.",
        "The ring does not light up but the kettle heats: the light has failed; the kettle is "
        "safe to use. Contact us for a warranty repair.",
        "",
        "Warranty and disposal",
        "The kettle has a 2-year warranty from the day it was delivered (see our warranty "
        "page); limescale damage is not covered. Do not put it in household waste: bring it to "
        "a collection point for small electrical appliances, or use our free take-back when "
        "you buy a new one.",
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
