"""Precedence of the settings sources, for a plain field and for an aliased one.

Documented order, highest first: explicit arguments, environment variables, `<NAME>_FILE`
files, the `.env` file, files in `SECRETS_DIR`, then the defaults. Every pair of sources is set
at once with different values, under every alias the field answers to, and the higher must win.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from qna_agent.config import load_settings

SOURCES = ("argument", "environment", "name_file", "dotenv", "secrets_dir")

# (field, variable the higher source uses, variable the lower source uses)
CASES = [
    pytest.param("llm_model", "LLM_MODEL", "LLM_MODEL", id="plain"),
    pytest.param("llm_api_key", "LLM_API_KEY", "LLM_API_KEY", id="alias"),
    pytest.param("llm_api_key", "OPENAI_API_KEY", "LLM_API_KEY", id="second-alias-above"),
    pytest.param("llm_api_key", "LLM_API_KEY", "OPENAI_API_KEY", id="second-alias-below"),
    pytest.param("llm_base_url", "OPENAI_BASE_URL", "LLM_BASE_URL", id="url-alias"),
]


class Sources:
    """Puts a value for one variable into one of the settings sources."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.monkeypatch = monkeypatch
        self.root = root
        self.arguments: dict[str, Any] = {}
        monkeypatch.chdir(root)  # `.env` is read from the working directory

    def put(self, source: str, field: str, variable: str, value: str) -> None:
        setters: dict[str, Callable[[], None]] = {
            "argument": lambda: self.arguments.__setitem__(field, value),
            "environment": lambda: self.monkeypatch.setenv(variable, value),
            "name_file": lambda: self._name_file(variable, value),
            "dotenv": lambda: self._append(self.root / ".env", f"{variable}={value}\n"),
            "secrets_dir": lambda: self._secret(variable, value),
        }
        setters[source]()

    def _name_file(self, variable: str, value: str) -> None:
        path = self.root / f"{variable.lower()}.secret"
        path.write_text(value + "\n")
        self.monkeypatch.setenv(f"{variable}_FILE", str(path))

    def _secret(self, variable: str, value: str) -> None:
        directory = self.root / "secrets"
        directory.mkdir(exist_ok=True)
        (directory / variable).write_text(value)
        self.monkeypatch.setenv("SECRETS_DIR", str(directory))

    @staticmethod
    def _append(path: Path, line: str) -> None:
        with path.open("a") as file:
            file.write(line)

    def value_of(self, field: str) -> str:
        value = getattr(load_settings(**self.arguments), field)
        return str(value.get_secret_value() if hasattr(value, "get_secret_value") else value)


def value_for(source: str, field: str) -> str:
    """A value naming its source, valid for the field."""
    return f"https://{source.replace('_', '-')}.example/v1" if field.endswith("url") else source


@pytest.mark.parametrize(("higher", "lower"), list(combinations(SOURCES, 2)))
@pytest.mark.parametrize(("field", "high_variable", "low_variable"), CASES)
def test_the_higher_source_wins(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    higher: str,
    lower: str,
    field: str,
    high_variable: str,
    low_variable: str,
) -> None:
    sources = Sources(monkeypatch, tmp_path)
    sources.put(lower, field, low_variable, value_for(lower, field))
    sources.put(higher, field, high_variable, value_for(higher, field))
    assert sources.value_of(field) == value_for(higher, field)


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize(("field", "variable", "_"), CASES)
def test_each_source_alone_beats_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, source: str, field: str, variable: str, _: str
) -> None:
    sources = Sources(monkeypatch, tmp_path)
    sources.put(source, field, variable, value_for(source, field))
    assert sources.value_of(field) == value_for(source, field)
