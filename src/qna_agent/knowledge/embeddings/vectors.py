"""Small numeric helpers shared by the embedders and the vector index."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatMatrix = npt.NDArray[np.float32]


def l2_normalise(matrix: npt.ArrayLike) -> FloatMatrix:
    """Return `matrix` as float32 with every row scaled to unit L2 length.

    All-zero rows stay zero instead of becoming NaN, so one empty input can
    never poison a similarity computation.
    """
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim != 2:
        raise ValueError(f"expected a 2-D matrix, got shape {rows.shape}")
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    normalised: FloatMatrix = rows / np.maximum(norms, np.float32(1e-12))
    return normalised
