"""Metrics across several worker processes (`qna-agent serve --workers N`, N > 1).

prometheus-client keeps each process's values in memory-mapped files under
`PROMETHEUS_MULTIPROC_DIR` and sums them at scrape time. The directory must be set before the
workers import prometheus-client, and must start empty: stale files would add a previous
run's counts. This module does not import prometheus-client itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_directory(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Point the workers at an empty metrics directory.

    A directory given in `PROMETHEUS_MULTIPROC_DIR` is emptied of metric files and kept;
    otherwise a private temporary one is created and returned, for the caller to remove.
    """
    given = environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None
    path = Path(tempfile.mkdtemp(prefix="qna-agent-metrics-"))
    environ[MULTIPROC_ENV] = str(path)
    return path
