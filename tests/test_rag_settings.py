"""rag_engine's settings: defaults, overrides, and a loud failure for every bad value.

(That the engine stands alone, importing no web, queue or channel code, is in test_architecture.py.)"""

import pytest

from rag_engine import ConfigurationError, Settings


@pytest.mark.parametrize("env, message", [
    ({"CHUNK_SIZE": "big"}, "CHUNK_SIZE must be a whole number"),
    ({"CHUNK_SIZE": "100", "CHUNK_OVERLAP": "100"}, "CHUNK_OVERLAP must be between"),
    ({"EMBED_PROVIDER": "cohere"}, "EMBED_PROVIDER must be one of"),
    ({"LLM_PROVIDER": "openai-compatible"}, "needs LLM_BASE_URL"),
    ({"LLM_PROVIDER": "openai"}, "needs OPENAI_API_KEY"),
    ({"ANSWER_MIN_SCORE": "2"}, "ANSWER_MIN_SCORE must be between"),
    ({"RAG_TABLE": "chunks; drop"}, "RAG_TABLE must be"),
    ({"HYBRID_FUSION": "max"}, "HYBRID_FUSION must be one of"),
])
def test_bad_settings_fail_loudly(env, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_settings_defaults_and_overrides():
    settings = Settings.from_env({"TOP_K": "7", "LLM_PROVIDER": "OpenAI", "OPENAI_API_KEY": "sk"})
    assert settings.top_k == 7 and settings.llm_provider == "openai" and settings.embed_provider == "local"
    assert settings.with_overrides(top_k=3).top_k == 3
    with pytest.raises(ConfigurationError):
        settings.with_overrides(no_such_setting=1)


def test_blank_variables_are_unset_and_the_overlap_follows_the_chunk_size():
    settings = Settings.from_env({"TOP_K": " ", "CHUNK_SIZE": "100", "RAG_TABLE": "kb_2", "ANSWER_MIN_SCORE": "0.5"})
    assert settings.top_k == Settings().top_k and settings.table_name == "kb_2" and settings.min_score == 0.5
    assert settings.chunk_overlap == 25 and settings.with_overrides(chunk_size=400).chunk_overlap == 40
    assert Settings(chunk_size=100, chunk_overlap=5).with_overrides(top_k=3).chunk_overlap == 5
