"""The packaged ONNX embedders, run for real and offline, and the embedder factory."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from qna_agent.knowledge.embeddings.embedder import (
    DEFAULT_EMBEDDER_KIND,
    ONNX_KINDS,
    Embedder,
    build_embedder,
    load_default_embedder,
)
from qna_agent.knowledge.embeddings.onnx_embedder import OnnxEmbedder
from qna_agent.knowledge.embeddings.packaged_models import (
    MINILM_L6_INT8,
    ModelIntegrityError,
    packaged_model_path,
    packaged_tokenizer_path,
)

MIXED_TEXTS = [
    "How do I reset my password?",
    "refund",
    "Standard shipping arrives in 3 to 5 business days; express in 1 to 2.",
    "",
    "Our stores are open Monday to Friday from 9am to 8pm. " * 40,
    "Can I pay with PayPal?",
    "Gift cards are valid for three years and cannot be exchanged for cash.",
]


@pytest.fixture(autouse=True, scope="module")
def _offline() -> Iterator[None]:
    # Nothing here may reach a model hub, whatever a library might try.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def embedder(_offline: None) -> Embedder:
    return load_default_embedder()


def test_default_embedder_returns_unit_float32_rows(embedder: Embedder) -> None:
    vectors = embedder.embed(["Where is my parcel?", "I want my money back"])

    assert embedder.name == "all-MiniLM-L6-v2-qint8"
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, embedder.dim) == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_score_higher_than_unrelated(embedder: Embedder) -> None:
    query, paraphrase, unrelated = embedder.embed(
        [
            "I forgot my password and cannot sign in",
            "How do I reset the password for my account?",
            "Our stores close at 8pm on weekdays.",
        ]
    )

    assert query @ paraphrase > query @ unrelated + 0.2


@pytest.mark.parametrize("kind", [DEFAULT_EMBEDDER_KIND, "onnx-minilm-l6-int8"])
def test_batched_vectors_match_one_by_one(_offline: None, kind: str) -> None:
    # Small bounds force several batches of different widths (the default model embeds one
    # text per run whatever it is asked: its activations are quantized per run).
    small_batches = build_embedder(kind, batch_size=3, max_batch_tokens=64)

    together = small_batches.embed(MIXED_TEXTS)
    one_by_one = np.vstack([small_batches.embed([text]) for text in MIXED_TEXTS])

    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_empty_input_gives_zero_rows(embedder: Embedder) -> None:
    vectors = embedder.embed([])

    assert vectors.shape == (0, embedder.dim)
    assert vectors.dtype == np.float32


def test_a_single_string_is_refused(embedder: Embedder) -> None:
    # A str is a Sequence[str] to the type checker, so only a runtime check catches this.
    with pytest.raises(TypeError):
        embedder.embed("one string is a sequence of characters")


def test_long_text_is_truncated_to_the_model_limit(embedder: Embedder) -> None:
    assert isinstance(embedder, OnnxEmbedder)
    long_text = MIXED_TEXTS[4]

    assert embedder.count_tokens(long_text) == embedder.max_tokens == 256
    assert embedder.embed([long_text]).shape == (1, 384)


@pytest.mark.parametrize("kind", sorted(ONNX_KINDS))
def test_every_packaged_model_loads_and_ranks_a_paraphrase_first(kind: str) -> None:
    distribution = ONNX_KINDS[kind].distribution
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(
            f"optional model package {distribution} is not installed "
            "(`uv sync --extra fast-embeddings`)"
        )
    model = build_embedder(kind)
    vectors = model.embed(["parcel tracking", "where is my delivery", "reset my password"])

    assert vectors.shape == (3, model.dim)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_non_default_token_limit_is_part_of_the_name() -> None:
    assert (
        build_embedder(DEFAULT_EMBEDDER_KIND, max_tokens=128).name == "all-MiniLM-L6-v2-qint8@128"
    )
    assert build_embedder("onnx-minilm-l6-int8", max_tokens=128).name == "all-MiniLM-L6-v2-int8@128"


def test_wrong_pinned_hash_names_the_file_and_both_hashes() -> None:
    wrong = dataclasses.replace(MINILM_L6_INT8, sha256="0" * 64)

    with pytest.raises(ModelIntegrityError) as raised:
        OnnxEmbedder.from_spec(wrong)

    message = str(raised.value)
    assert str(packaged_model_path(MINILM_L6_INT8)) in message
    assert "0" * 64 in message
    assert MINILM_L6_INT8.sha256 in message


def test_tampered_model_copy_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model.onnx"
    shutil.copyfile(packaged_model_path(MINILM_L6_INT8), copy)
    with copy.open("r+b") as handle:
        handle.seek(-1, 2)
        last = handle.read(1)
        handle.seek(-1, 2)
        handle.write(bytes([last[0] ^ 0xFF]))

    with pytest.raises(ModelIntegrityError, match="model.onnx has sha256"):
        OnnxEmbedder(
            name="tampered",
            model_path=copy,
            model_sha256=MINILM_L6_INT8.sha256,
            tokenizer_path=packaged_tokenizer_path(),
        )


def test_missing_model_package_is_explained() -> None:
    absent = dataclasses.replace(MINILM_L6_INT8, distribution="no-such-model-package")

    with pytest.raises(ModelIntegrityError, match="needs the package no-such-model-package"):
        OnnxEmbedder.from_spec(absent)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown embedder kind"):
        build_embedder("word2vec")
