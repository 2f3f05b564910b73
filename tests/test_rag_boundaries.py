"""The engine stands alone (no web, queue or channel imports) and its settings fail loudly."""

import subprocess
import sys

import pytest

from rag_engine import ConfigurationError, Settings


def test_rag_engine_imports_no_web_queue_or_channel_code():
    code = (
        "import sys, rag_engine\n"
        "from rag_engine import KnowledgeBase\n"
        "bad = [m for m in ('flask', 'rq', 'redis', 'twilio', 'postmarker', 'app', 'workers') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


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
