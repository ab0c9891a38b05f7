"""`qna-agent kb ingest`: directories keep their folders, clashes are refused up front."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qna_agent.cli import app
from tests.support.cli import cli_environment

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment of the other CLI tests (a SQLite file in tmp_path, the working directory)."""
    return cli_environment(tmp_path, monkeypatch)


@pytest.mark.usefixtures("env")
def test_ingest_keeps_the_folders_of_a_directory(tmp_path: Path) -> None:
    docs = tmp_path / "manuals"
    for folder, text in [("kettle", "descale it monthly"), ("lamp", "replace the bulb")]:
        (docs / folder).mkdir(parents=True)
        (docs / folder / "README.md").write_text(f"# {folder}\n\nFor the {folder}: {text}.\n")
    (docs / ".git").mkdir()
    (docs / ".git" / "HEAD.md").write_text("# not a document\n")
    first = runner.invoke(app, ["kb", "ingest", str(docs), "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert sorted(report["added"]) == ["uploads/kettle/README.md", "uploads/lamp/README.md"]
    assert report["skipped"] == []

    again = runner.invoke(app, ["kb", "ingest", str(docs)])
    assert again.exit_code == 0, again.output
    assert "0 added, 0 replaced, 2 unchanged, 0 skipped" in again.output
    found = runner.invoke(app, ["kb", "search", "bulb", "--json"])
    assert json.loads(found.output)[0]["source"] == "uploads/lamp/README.md"


@pytest.mark.usefixtures("env")
def test_ingest_refuses_two_files_for_one_name_before_storing_anything(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "faq.md").write_text(f"# FAQ {folder}\n\nAnswers.\n")
    result = runner.invoke(
        app, ["kb", "ingest", str(tmp_path / "a" / "faq.md"), str(tmp_path / "b")]
    )
    assert result.exit_code == 1
    assert "would both be stored as uploads/faq.md" in result.output
    stats = runner.invoke(app, ["kb", "stats"])
    assert stats.output.startswith("0 documents"), stats.output
