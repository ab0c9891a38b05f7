"""Settings: every option from the environment, `.env`, `<NAME>_FILE` files and a secrets directory.

One `Settings` class, composed of groups by area (`server`, `observability`, `database`,
`knowledge`, `llm`, `agent`, `chats`, `sql_tool`, `security`) so that every variable keeps its
flat name and attribute; `sources` reads the files, `docs` renders `docs/configuration.md`.
Imports nothing else of qna_agent: every other layer may import it.
"""

from qna_agent.config.base import Environment
from qna_agent.config.settings import (
    Settings,
    SettingsError,
    describe_validation_error,
    get_settings,
    load_settings,
)
from qna_agent.config.sources import FileValueSource, env_names, source_key
from qna_agent.config.sql_tool import SQL_TOOL_POSTGRES_SCHEMES, SQL_TOOL_SQLITE_SCHEMES

__all__ = [
    "SQL_TOOL_POSTGRES_SCHEMES",
    "SQL_TOOL_SQLITE_SCHEMES",
    "Environment",
    "FileValueSource",
    "Settings",
    "SettingsError",
    "describe_validation_error",
    "env_names",
    "get_settings",
    "load_settings",
    "source_key",
]
