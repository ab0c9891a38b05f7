"""The example shop database (examples/build_shop_db.py) as the SQL-tool tests build it: as of
a fixed day, so the numbers they check are exact."""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType

from tests.support.app import ROOT

SHOP_TODAY = dt.date(2026, 11, 1)  # the tests build the shop as of this day, so numbers are exact
RETURNED_LAST_MONTH = 27  # orders with a return requested in October 2026 (reference 2026-11-01)
RETURNS_LAST_MONTH_SQL = (
    "SELECT count(DISTINCT order_id) FROM returns"
    " WHERE requested_at >= '2026-10-01' AND requested_at < '2026-11-01'"
)


def load_shop_builder() -> ModuleType:
    """The example script, imported as a module."""
    path = ROOT / "examples" / "build_shop_db.py"
    spec = importlib.util.spec_from_file_location("build_shop_db", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


SHOP = load_shop_builder()


def fingerprint(path: Path) -> tuple[str, dict[str, int]]:
    """The file's hash and every table's row count, read with a plain connection."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with sqlite3.connect(path) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        names = [row[0] for row in tables.fetchall()]
        counts = {n: connection.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}
    connection.close()
    return digest, counts
