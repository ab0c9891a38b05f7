"""The factory that picks a model from the settings, and wraps a provider in retries."""

from __future__ import annotations

from qna_agent.agent.models.breaker import CircuitBreaker
from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.models.resilience import ResilientModel
from qna_agent.agent.models.retry import RetryPolicy
from qna_agent.config import Settings


def resilient(model: ChatModel, settings: Settings) -> ResilientModel:
    """`model` behind the retry policy and circuit breaker the settings describe."""
    return ResilientModel(
        model,
        policy=RetryPolicy(
            max_retries=settings.llm_max_retries,
            base_seconds=settings.llm_retry_base_seconds,
            max_seconds=settings.llm_retry_max_seconds,
        ),
        breaker=CircuitBreaker(
            failure_threshold=settings.llm_breaker_failures,
            reset_seconds=settings.llm_breaker_reset_seconds,
        ),
    )


def build_model(settings: Settings) -> ChatModel:
    """The model the settings ask for (`auto` resolved)."""
    if settings.resolved_llm_provider == "openai":
        from qna_agent.agent.models.openai import OpenAIChatModel

        provider = OpenAIChatModel(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            model=settings.llm_model,
            timeout=settings.llm_timeout_seconds,
            max_retries=0,  # ResilientModel retries; the SDK's own retries would multiply them
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_output_tokens,
        )
        return resilient(provider, settings)
    from qna_agent.agent.models.extractive import ExtractiveModel

    return ExtractiveModel(min_overlap=settings.extractive_min_overlap)
