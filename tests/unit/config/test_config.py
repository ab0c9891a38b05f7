"""Settings from the environment, files and secret directories; clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qna_agent.config import SettingsError, load_settings
from qna_agent.config.docs import render_settings_docs
from tests.support.app import ROOT


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env is read


def test_defaults_pick_the_offline_provider() -> None:
    settings = load_settings()
    assert settings.resolved_llm_provider == "extractive"
    assert settings.port == 8000
    assert settings.auto_migrate is True


def test_environment_variables_and_openai_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-key")
    monkeypatch.setenv("LLM_MODEL", "llama3")
    settings = load_settings()
    assert settings.port == 9000
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-real-key"
    assert settings.resolved_llm_provider == "openai"
    assert "sk-real-key" not in repr(settings)
    assert "sk-real-key" not in str(settings.model_dump())


def test_file_variables_and_secret_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    monkeypatch.setenv("LLM_API_KEY_FILE", str(key_file))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "llm_model").write_text("model-from-secret-dir")
    monkeypatch.setenv("SECRETS_DIR", str(secrets))
    settings = load_settings()
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-from-file"
    assert settings.llm_model == "model-from-secret-dir"

    monkeypatch.setenv("LLM_MODEL", "env-wins")
    assert load_settings().llm_model == "env-wins"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LLM_MODEL=from-dotenv\n")
    assert load_settings().llm_model == "from-dotenv"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("PORT", "eighty", "PORT:"),
        ("PORT", "70000", "PORT:"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL:"),
        ("LLM_PROVIDER", "magic", "LLM_PROVIDER:"),
        ("LLM_API_KEY_FILE", "/nonexistent/key", "LLM_API_KEY_FILE:"),
        ("SECRETS_DIR", "/nonexistent/dir", "SECRETS_DIR:"),
        ("SQL_TOOL_DATABASE_URL", "mysql://x", "SQL_TOOL_DATABASE_URL: unsupported scheme"),
        ("SQL_TOOL_DATABASE_URL", "sqlite:///missing.db", "no SQLite database at missing.db"),
        ("SQL_TOOL_DATABASE_URL", "missing.db", "no SQLite database at missing.db"),
        ("SQL_TOOL_DATABASE_URL", "sqlite:///:memory:", "SQL_TOOL_DATABASE_URL: expected"),
        ("LLM_BASE_URL", "not a url", "LLM_BASE_URL: 'not a url' is not an http"),
        ("OPENAI_BASE_URL", "ftp://x", "LLM_BASE_URL:"),
        ("LLM_BASE_URL", "http://host:port/v1", "LLM_BASE_URL:"),
        ("KB_EMBEDDINGS_BASE_URL", "localhost:8080", "KB_EMBEDDINGS_BASE_URL:"),
    ],
)
def test_wrong_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    message = str(error.value)
    assert expected in message
    assert "\n" not in message


def test_placeholder_key_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("LLM_API_KEY", "changeme")
    with pytest.raises(SettingsError, match="LLM_API_KEY"):
        load_settings()
    monkeypatch.setenv("LLM_API_KEY", "sk-real")
    settings = load_settings()
    assert settings.auto_migrate is False


def test_configuration_reference_is_up_to_date() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text()
    assert documented == render_settings_docs(), (
        "docs/configuration.md is stale: run `qna-agent config docs > docs/configuration.md`"
    )


def test_settings_import_nothing_else_of_the_service() -> None:
    # Every layer imports config, so config importing any of them would be a circle.
    probe = (
        "import sys, qna_agent.config, qna_agent.config.docs; "
        "print(*sorted(m for m in sys.modules if m.startswith('qna_agent.')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded and all(name.startswith("qna_agent.config") for name in loaded), loaded


def test_unset_system_prompt_means_the_built_in_one() -> None:
    assert load_settings().agent_system_prompt is None
    with pytest.raises(SettingsError, match="AGENT_SYSTEM_PROMPT"):
        load_settings(agent_system_prompt="")


def test_sql_tool_database_and_llm_urls_that_exist_are_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "shop.db").write_bytes(b"")
    for url in ("sqlite:///shop.db", f"sqlite:///{tmp_path / 'shop.db'}", "shop.db"):
        monkeypatch.setenv("SQL_TOOL_DATABASE_URL", url)
        assert load_settings().sql_tool_database_url == url
    # PostgreSQL is checked when the tools connect (the server may start later).
    monkeypatch.setenv("SQL_TOOL_DATABASE_URL", "postgresql://reader@db.internal/shop")
    assert load_settings().sql_tool_database_url == "postgresql://reader@db.internal/shop"
    monkeypatch.setenv("LLM_BASE_URL", " http://127.0.0.1:11434/v1 ")
    assert load_settings().llm_base_url == "http://127.0.0.1:11434/v1"
