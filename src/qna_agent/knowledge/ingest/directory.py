"""Find the documents of a knowledge directory.

Works on a directory as Kubernetes mounts a ConfigMap: files there are symlinks into a hidden
`..data` directory, so hidden entries are skipped and links are followed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qna_agent.knowledge.ingest.loader import SUPPORTED_SUFFIXES

MAX_DEPTH = 16
MAX_PATH_CHARS = 1024  # kb_documents.path


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A file found in the knowledge directory."""

    path: str  # relative, with forward slashes: the document's identity
    absolute: Path


def scan(directory: Path) -> tuple[list[SourceFile], list[tuple[str, str]]]:
    """Supported files under `directory`, and skipped ones with the reason."""
    found: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    for absolute in _walk(directory):
        relative = absolute.relative_to(directory).as_posix()
        if len(relative) > MAX_PATH_CHARS:
            skipped.append(
                (relative[:200] + "...", f"path longer than {MAX_PATH_CHARS} characters")
            )
            continue
        if absolute.suffix.lower() not in SUPPORTED_SUFFIXES:
            skipped.append((relative, f"unsupported file type '{absolute.suffix or '(none)'}'"))
            continue
        found.append(SourceFile(relative, absolute))
    found.sort(key=lambda source: source.path)
    return found, skipped


def _walk(directory: Path, depth: int = 0) -> Iterator[Path]:
    # Depth-limited: a symlink loop in a mounted volume must not hang the scan.
    if depth > MAX_DEPTH or not directory.is_dir():
        return
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            yield from _walk(entry, depth + 1)
        elif entry.is_file():
            yield entry
