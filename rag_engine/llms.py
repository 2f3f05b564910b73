"""LLM providers by configuration: none (extractive, offline), OpenAI, or OpenAI-compatible."""

from __future__ import annotations

from typing import Any, Optional


def build_llm(settings) -> Optional[Any]:
    """The configured LlamaIndex LLM, or None for the offline extractive answerer."""
    if settings.llm_provider == "extractive":
        return None
    if settings.llm_provider == "openai":
        from llama_index.llms.openai import OpenAI

        return OpenAI(
            model=settings.llm_model,
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            api_key=settings.llm_api_key or settings.openai_api_key,
            api_base=settings.llm_base_url or settings.openai_base_url,
            timeout=settings.llm_timeout,
            max_retries=2,
        )
    from llama_index.llms.openai_like import OpenAILike

    return OpenAILike(
        model=settings.llm_model,
        api_base=settings.llm_base_url,
        api_key=settings.llm_api_key or "not-needed",
        is_chat_model=True,
        context_window=8192,
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        timeout=settings.llm_timeout,
        max_retries=2,
    )
