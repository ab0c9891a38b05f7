"""Settings of the language model endpoint: provider, retries, circuit breaker and prices."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator

from qna_agent.config.base import SettingsGroup, http_url

_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "your-api-key", "sk-xxx", "xxx", "todo"}


class LlmSettings(SettingsGroup):
    """Which model is called, how, how often it is retried, and what its tokens cost."""

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
    llm_max_output_tokens: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="Most tokens one model call may answer with (sent as `max_tokens`). It is "
        "also the answer allowance the token budget reserves per call: set it for a hard bound; "
        "unset, the provider's default applies and 1024 is reserved.",
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

    @field_validator("llm_base_url")
    @classmethod
    def _llm_http_url(cls, value: str | None) -> str | None:
        return http_url(value)

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
    def _no_placeholder_secrets(self) -> Self:
        key = self.llm_api_key.get_secret_value() if self.llm_api_key else None
        if self.environment == "production" and key and key.strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("LLM_API_KEY is a placeholder value; set the real key in production")
        return self

    @property
    def resolved_llm_provider(self) -> Literal["openai", "extractive"]:
        """The provider `auto` resolves to."""
        if self.llm_provider != "auto":
            return self.llm_provider
        return "openai" if (self.llm_base_url or self.llm_api_key) else "extractive"
