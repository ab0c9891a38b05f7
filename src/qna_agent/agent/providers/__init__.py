"""Model providers and the factory that picks one from the settings."""

from __future__ import annotations

from qna_agent.agent.model import ChatModel
from qna_agent.config import Settings


def build_model(settings: Settings) -> ChatModel:
    """The model the settings ask for (`auto` resolved)."""
    if settings.resolved_llm_provider == "openai":
        from qna_agent.agent.providers.openai import OpenAIChatModel

        return OpenAIChatModel(
            base_url=settings.llm_base_url,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            model=settings.llm_model,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
            temperature=settings.llm_temperature,
        )
    from qna_agent.agent.providers.extractive import ExtractiveModel

    return ExtractiveModel(min_overlap=settings.extractive_min_overlap)
