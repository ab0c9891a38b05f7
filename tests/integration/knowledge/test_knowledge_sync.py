"""Indexing the knowledge directory: by content hash, with removals and skips."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qna_agent.config import Settings
from qna_agent.container import build_services, prepare
from tests.support.app import EXAMPLES, running_app
from tests.support.observability import json_lines


async def test_sync_adds_changes_removes_and_skips(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    knowledge = tmp_path / "kb"
    knowledge.mkdir()
    (knowledge / "a.md").write_text("# Alpha\n\nThe alpha policy covers kettles.\n")
    (knowledge / "b.txt").write_text("Beta text about tents.\n")
    (knowledge / "image.png").write_bytes(b"\x89PNG")
    (knowledge / "bad.md").write_bytes(bytes(range(256)) * 4)
    services = build_services(settings_factory(knowledge_dir=knowledge, kb_sync_on_start=False))
    try:
        await prepare(services)
        first = await services.knowledge.sync()
        assert sorted(first.added) == ["a.md", "b.txt"]
        assert dict(first.skipped).keys() == {"image.png", "bad.md"}
        assert "unsupported" in dict(first.skipped)["image.png"]
        assert "binary data" in dict(first.skipped)["bad.md"]

        again = await services.knowledge.sync()
        assert sorted(again.unchanged) == ["a.md", "b.txt"]
        assert not again.touched

        (knowledge / "a.md").write_text("# Alpha\n\nThe alpha policy now covers lamps.\n")
        (knowledge / "b.txt").unlink()
        third = await services.knowledge.sync()
        assert third.changed == ["a.md"]
        assert third.removed == ["b.txt"]
        assert [hit.path for hit in await services.knowledge.search("lamps", 5)] == ["a.md"]
        assert await services.knowledge.search("kettles", 5) == []
        assert await services.knowledge.search("tents", 5) == []
        assert await services.knowledge.counts() == (1, 1)
    finally:
        await services.close()


async def test_configmap_style_mount_is_indexed_once(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    # Kubernetes mounts a ConfigMap as symlinks into a hidden timestamped directory.
    mount = tmp_path / "mount"
    data = mount / "..2026_11_24_00_00_00.000000001"
    data.mkdir(parents=True)
    shutil.copy(EXAMPLES / "refund-policy.md", data / "refund-policy.md")
    (mount / "..data").symlink_to(data.name)
    (mount / "refund-policy.md").symlink_to("..data/refund-policy.md")
    services = build_services(settings_factory(knowledge_dir=mount))
    try:
        await prepare(services)
        report = services.knowledge.last_sync
        assert report is not None
        assert report.added == ["refund-policy.md"]
        hits = await services.knowledge.search("return window", 3)
        assert hits[0].path == "refund-policy.md"
        assert hits[0].heading.startswith("Refund Policy")
        assert hits[0].start_line >= 1
    finally:
        await services.close()


async def test_search_handles_any_text(settings_factory: Callable[..., Settings]) -> None:
    services = build_services(settings_factory())
    try:
        await prepare(services)
        for query in [
            '"',
            "AND OR NOT",
            "*",
            "NEAR(",
            "'; DROP TABLE kb_chunks; --",
            "ü ñ 中文",
            "",
            "   ",
            "a" * 5000,
        ]:
            await services.knowledge.search(query, 5)
        assert await services.knowledge.search("refund", 3)
    finally:
        await services.close()


async def test_the_rescan_loop_indexes_a_file_added_while_serving(
    settings_factory: Callable[..., Settings],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    knowledge = tmp_path / "kb"
    knowledge.mkdir()
    (knowledge / "a.md").write_text("# Alpha\n\nThe alpha policy covers kettles.\n")
    (knowledge / "broken.pdf").write_bytes(b"%PDF-1.7\n")
    settings = settings_factory(
        knowledge_dir=knowledge,
        kb_embedder="none",
        kb_sync_interval_seconds=0.1,
        log_format="json",
        log_level="DEBUG",
    )
    async with running_app(settings) as (_, services):
        await asyncio.sleep(0.5)  # a few re-scans with nothing to do
        (knowledge / "b.md").write_text("# Beta\n\nThe beta policy covers lanterns.\n")
        for _ in range(100):
            hits = await services.knowledge.search("lanterns", 3)
            if hits:
                break
            await asyncio.sleep(0.05)
        assert [hit.path for hit in hits] == ["b.md"]
    synced = [
        line for line in json_lines(capsys.readouterr().err) if line["event"].startswith("knowl")
    ]
    levels = [(line["event"], line["level"], line.get("added")) for line in synced]
    assert levels[:2] == [
        ("knowledge_base_synced", "info", 1),
        ("knowledge_file_skipped", "warning", None),
    ]
    assert ("knowledge_base_synced", "info", 1) in levels[2:]  # b.md
    idle = [entry for entry in levels if entry[1] == "debug"]
    assert len(idle) >= 2  # nothing changed: not news at INFO
    assert [entry[0] for entry in levels].count("knowledge_file_skipped") == 1
