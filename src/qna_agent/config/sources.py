"""Where settings come from, and in what order: the environment, `<NAME>_FILE` files, `.env`
and the files of a mounted secrets directory (`SECRETS_DIR`).

`.env` and the secrets directory are pydantic-settings' own sources; `<NAME>_FILE` is read here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


class FileValueSource(PydanticBaseSettingsSource):
    """Reads `<NAME>_FILE` variables: the value is the content of the named file.

    This is how Docker/Kubernetes secrets are usually mounted (`LLM_API_KEY_FILE=/run/secrets/key`).
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        for name in env_names(field_name, field):
            path = os.environ.get(f"{name}_FILE") or os.environ.get(f"{name.lower()}_file")
            if path:
                try:
                    value = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from exc
                return value, source_key(field_name, field), False
        return None, source_key(field_name, field), False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, field_name)
            if value is not None:
                values[key] = value
        return values


def env_names(field_name: str, field: FieldInfo) -> list[str]:
    """The environment variable names that set a field, preferred name first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).upper() for choice in alias.choices]
    if isinstance(alias, str):
        return [alias.upper()]
    return [field_name.upper()]


def source_key(field_name: str, field: FieldInfo) -> str:
    """The key a settings source must give a field's value under.

    The environment, `.env` and secrets-directory sources key an aliased field by its first
    alias; a value under the field name instead would lose to any of them whatever the
    precedence, because pydantic prefers the alias when both are present.
    """
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    if isinstance(alias, str):
        return alias
    return field_name


def by_precedence(
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """The sources, highest precedence first: explicit arguments, the environment,
    `<NAME>_FILE` files, `.env`, then the files in `SECRETS_DIR`."""
    return (
        init_settings,
        env_settings,
        FileValueSource(settings_cls),
        dotenv_settings,
        file_secret_settings,
    )
