"""The re-quantized default model: made once from the pinned package, reused, checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qna_agent.knowledge.embeddings.derived_model import MINILM_L6_QINT8, derived_model_path, main
from qna_agent.knowledge.embeddings.embedder import build_embedder
from qna_agent.knowledge.embeddings.packaged_models import sha256_of

TEXTS = [
    "How long do I have to return an item?",
    "Standard shipping arrives in 3 to 5 business days; express in 1 to 2.",
    "Gift cards are valid for three years and cannot be exchanged for cash.",
    "reset my password",
]


def test_the_model_is_made_once_with_the_pinned_bytes_then_reused(tmp_path: Path) -> None:
    path, digest = derived_model_path(MINILM_L6_QINT8, tmp_path)
    assert path.parent == tmp_path
    assert digest == sha256_of(path) == MINILM_L6_QINT8.sha256
    made = path.stat().st_mtime_ns

    again, _ = derived_model_path(MINILM_L6_QINT8, tmp_path)

    assert again == path
    assert path.stat().st_mtime_ns == made  # not made twice
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary files left


def test_the_model_made_by_one_user_is_readable_by_the_others(tmp_path: Path) -> None:
    # The image derives it as root; the service reads it as an unprivileged user.
    path, _ = derived_model_path(MINILM_L6_QINT8, tmp_path)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_damaged_copy_is_made_again(tmp_path: Path) -> None:
    path, _ = derived_model_path(MINILM_L6_QINT8, tmp_path)
    path.write_bytes(b"not a model")

    again, digest = derived_model_path(MINILM_L6_QINT8, tmp_path)

    assert digest == sha256_of(again) == MINILM_L6_QINT8.sha256


def test_a_directory_that_cannot_be_made_falls_back_to_a_temporary_one(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the directory should be")

    path, digest = derived_model_path(MINILM_L6_QINT8, blocker / "models")

    assert not path.is_relative_to(tmp_path)
    assert digest == sha256_of(path)


def test_its_vectors_stay_close_to_the_packaged_model(tmp_path: Path) -> None:
    derived = build_embedder("onnx-minilm-l6-qint8", model_dir=tmp_path)
    packaged = build_embedder("onnx-minilm-l6-int8")

    cosines = (derived.embed(TEXTS) * packaged.embed(TEXTS)).sum(axis=1)

    assert derived.name == "all-MiniLM-L6-v2-qint8"
    assert float(np.min(cosines)) > 0.97


def test_a_copy_made_before_is_used_from_a_read_only_directory(tmp_path: Path) -> None:
    made, _ = derived_model_path(MINILM_L6_QINT8, tmp_path / "image")
    made.parent.chmod(0o555)  # the image's directory: root's, read-only for the service
    try:
        path, digest = derived_model_path(MINILM_L6_QINT8, made.parent)
    finally:
        made.parent.chmod(0o755)
    assert path == made and digest == MINILM_L6_QINT8.sha256


def test_the_module_makes_the_model_into_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main([str(tmp_path)])
    assert f"sha256={MINILM_L6_QINT8.sha256}" in capsys.readouterr().out
    assert (tmp_path / f"{MINILM_L6_QINT8.name}.onnx").is_file()
