"""Security settings: safe defaults, refusals in production, the bootstrap key file."""

from __future__ import annotations

from pathlib import Path

import pytest

from qna_agent.config import SettingsError, load_settings
from qna_agent.security.keys import hash_key, parse_key_file
from qna_agent.security.ratelimit import ConcurrencySlots, window_bounds


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def test_auth_defaults_by_environment() -> None:
    assert load_settings(environment="development").resolved_auth_mode == "none"
    assert load_settings(environment="test").resolved_auth_mode == "api_key"
    assert load_settings(environment="production").resolved_auth_mode == "api_key"
    assert load_settings().cors_origin_list == []


def test_no_auth_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AUTH_MODE", "none")
    with pytest.raises(SettingsError, match="AUTH_MODE=none"):
        load_settings()


def test_gateway_needs_trusted_proxies_and_valid_networks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_MODE", "gateway")
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings()
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip")
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES: 'not-an-ip'"):
        load_settings()
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, ::1")
    assert len(load_settings().trusted_proxy_networks) == 2


def test_cors_origins_must_be_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example.com/path")
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        load_settings()
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, http://localhost:3000")
    assert load_settings().cors_origin_list == ["https://a.example", "http://localhost:3000"]


def test_key_file_parsing(tmp_path: Path) -> None:
    good = "k" * 40
    path = tmp_path / "keys"
    path.write_text(f"# comment\n\nops:admin:{good}\nweb:user:{good}x:with:colons\n")
    keys = parse_key_file(path)
    assert keys[hash_key(good)].role == "admin"
    assert keys[hash_key(good + "x:with:colons")].id == "web"
    path.write_text("ops:root:" + good)
    with pytest.raises(ValueError, match="line 1"):
        parse_key_file(path)
    path.write_text("ops:admin:short")
    with pytest.raises(ValueError, match="at least 32"):
        parse_key_file(path)


def test_windows_and_slots() -> None:
    assert window_bounds(60, now=120.0) == (2, 60)
    assert window_bounds(60, now=179.5) == (2, 1)
    slots = ConcurrencySlots(2)
    assert slots.acquire("a") and slots.acquire("a") and not slots.acquire("a")
    assert slots.acquire("b")
    slots.release("a")
    assert slots.open("a") == 1 and slots.acquire("a")
