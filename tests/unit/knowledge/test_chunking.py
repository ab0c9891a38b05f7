"""Chunking keeps headings, line spans and code blocks whole."""

from __future__ import annotations

from qna_agent.knowledge.ingest.chunking import chunk_markdown, chunk_text, markdown_title

DOC = """# Guide

Intro paragraph.

## Install

Step one is easy.

```bash
# not a heading
pip install thing
```

### Details

More words here.
"""


def test_headings_become_paths_and_lines_are_kept() -> None:
    chunks = chunk_markdown(DOC, size=1000, overlap=0)
    assert [c.heading for c in chunks] == ["Guide", "Guide > Install", "Guide > Install > Details"]
    install = chunks[1]
    assert "# not a heading" in install.content
    assert (install.start_line, install.end_line) == (7, 12)
    lines = DOC.splitlines()
    assert lines[install.start_line - 1] == "Step one is easy."
    assert lines[install.end_line - 1] == "```"


def test_code_block_is_never_cut() -> None:
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(60)) + "\n```"
    doc = f"# T\n\nbefore\n\n{code}\n\nafter"
    chunks = chunk_markdown(doc, size=200, overlap=0)
    holding = [c for c in chunks if "x0 = 0" in c.content]
    assert len(holding) == 1
    assert "x59 = 59" in holding[0].content


def test_long_sections_split_with_overlap() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(10)]
    doc = "# Big\n\n" + "\n\n".join(paragraphs)
    chunks = chunk_markdown(doc, size=400, overlap=200)
    assert len(chunks) > 3
    assert all(len(c.content) <= 400 for c in chunks)
    for previous, current in zip(chunks, chunks[1:], strict=False):
        assert previous.content.split("\n\n")[-1] == current.content.split("\n\n")[0]
    text = "\n\n".join(c.content for c in chunks)
    assert all(p.strip() in text for p in paragraphs)


def test_heading_levels_reset() -> None:
    doc = "# A\n\n## B\n\nb\n\n## C\n\nc\n\n# D\n\nd\n"
    assert [c.heading for c in chunk_markdown(doc, size=500, overlap=0)] == ["A > B", "A > C", "D"]


def test_plain_text_and_titles() -> None:
    chunks = chunk_text("# not a heading\n\nsecond para", size=500, overlap=0, heading="Notes")
    assert [c.heading for c in chunks] == ["Notes"]
    assert "# not a heading" in chunks[0].content
    assert markdown_title("```\n# no\n```\n# Yes\n", "fallback") == "Yes"
    assert markdown_title("no heading", "fallback") == "fallback"


def test_empty_and_oversized_sentence() -> None:
    assert chunk_markdown("", size=500, overlap=0) == []
    chunks = chunk_markdown("# T\n\n" + "x" * 1300, size=500, overlap=0)
    assert [len(c.content) for c in chunks] == [500, 500, 300]


def test_atx_headings_keep_a_hash_that_is_part_of_the_title() -> None:
    doc = "# Languages\n\n## Using C#\n\nc sharp\n\n## F# ##\n\nf sharp\n\n   ### Indented\n\nx\n"
    assert [c.heading for c in chunk_markdown(doc, size=500, overlap=0)] == [
        "Languages > Using C#",
        "Languages > F#",
        "Languages > F# > Indented",
    ]


def test_setext_headings() -> None:
    doc = (
        "Kettle Guide\n============\n\nIntro.\n\n"
        "Descaling\nevery month\n---\n\nUse vinegar.\n\n"
        "- a list item\n---\n\nAfter a rule.\n"
    )
    chunks = chunk_markdown(doc, size=60, overlap=0)
    assert [c.heading for c in chunks] == ["Kettle Guide", "Kettle Guide > Descaling every month"]
    assert chunks[1].content.startswith("Use vinegar.")
    assert "- a list item\n---" in chunks[1].content  # under a list item, `---` is a rule
    assert markdown_title(doc, "fallback") == "Kettle Guide"


def test_front_matter_is_text_not_a_heading() -> None:
    doc = "---\ntitle: Kettle\ntags: [care]\n---\n\n# Kettle\n\nBody.\n"
    chunks = chunk_markdown(doc, size=500, overlap=0)
    assert [(c.heading, c.start_line, c.end_line) for c in chunks] == [("", 1, 4), ("Kettle", 8, 8)]


def test_indented_code_blocks_are_whole_and_hold_no_headings() -> None:
    code = "    # not a heading\n    first()\n\n    # still code\n    second()"
    doc = f"# Guide\n\nRun this:\n\n{code}\n\nAfter the code.\n"
    chunks = chunk_markdown(doc, size=20, overlap=0)
    assert [(c.heading, c.content) for c in chunks] == [
        ("Guide", "Run this:"),
        ("Guide", code),  # whole: a code block is cut only past four times the size
        ("Guide", "After the code."),
    ]
    assert (chunks[1].start_line, chunks[1].end_line) == (5, 9)


def test_an_indented_list_continuation_is_not_code() -> None:
    doc = "# Guide\n\n- item\n\n    Continued here. Then a second sentence.\n"
    contents = [c.content for c in chunk_markdown(doc, size=25, overlap=0)]
    # Prose is cut between sentences; as code it would have stayed whole.
    assert contents == ["- item", "    Continued here.", "Then a second sentence."]
