"""The bundled examples: every file is indexable, and the PDF is what its script writes."""

from __future__ import annotations

import json

from examples.build_example_pdf import MANUAL, OUTPUT, pdf_document

from qna_agent.knowledge.ingest.directory import scan
from qna_agent.knowledge.ingest.loader import parse_document
from tests.support.app import EXAMPLES, ROOT


def test_the_committed_pdf_is_the_scripts_output() -> None:
    assert OUTPUT.read_bytes() == pdf_document(MANUAL), (
        "run `python examples/build_example_pdf.py` and commit the PDF"
    )


def test_every_example_is_indexed_and_every_format_is_there() -> None:
    sources, skipped = scan(EXAMPLES)
    assert skipped == []
    suffixes = set()
    for source in sources:
        parsed = parse_document(
            source.path, source.absolute.read_bytes(), chunk_chars=600, overlap_chars=150
        )
        assert parsed.chunks, source.path
        suffixes.add(source.absolute.suffix)
    assert suffixes == {".md", ".html", ".pdf", ".txt"}


def test_the_eval_set_asks_about_every_example() -> None:
    lines = (ROOT / "examples" / "eval" / "retrieval.jsonl").read_text().splitlines()
    gold = {path for line in lines for path in json.loads(line)["gold"]}
    assert gold == {source.path for source in scan(EXAMPLES)[0]}
