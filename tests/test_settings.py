from __future__ import annotations

from pathlib import Path

import pytest

from kefu.errors import ConfigError
from kefu.settings import Settings


def test_defaults_use_the_embedded_backend_and_var_data_dir() -> None:
    s = Settings.from_env({})
    assert s.llm_backend == "llamacpp"
    assert s.data_dir == Path("var")
    assert s.embedding_model_id == str(Path("var/models/multilingual-e5-small"))
    assert s.gguf_model_path == Path("var/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")


def test_ollama_host_switches_the_default_backend() -> None:
    s = Settings.from_env({"OLLAMA_HOST": "gpu-box:11434"})
    assert s.llm_backend == "ollama"
    assert s.ollama_host == "http://gpu-box:11434"
    forced = Settings.from_env({"OLLAMA_HOST": "gpu-box:11434", "KEFU_LLM_BACKEND": "llamacpp"})
    assert forced.llm_backend == "llamacpp"


def test_every_field_reads_its_variable(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "KEFU_DATA_DIR": str(tmp_path),
            "KEFU_EMBEDDING_MODEL": "sentence-transformers/all-MiniLM-L6-v2",
            "KEFU_EMBEDDING_BATCH_SIZE": "8",
            "KEFU_LLM_BACKEND": "OLLAMA",
            "KEFU_OLLAMA_HOST": "https://llm.internal:443/",
            "KEFU_OLLAMA_MODEL": "qwen2.5:7b",
            "KEFU_GGUF_PATH": "/models/x.gguf",
            "KEFU_LLM_THREADS": "4",
            "KEFU_LLM_CONTEXT": "8192",
            "KEFU_LLM_MAX_TOKENS": "200",
            "KEFU_LLM_TEMPERATURE": "0",
            "KEFU_LLM_TIMEOUT": "12.5",
            "KEFU_LLM_CONNECT_TIMEOUT": "1",
        }
    )
    assert s.data_dir == tmp_path
    assert s.embedding_model_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert s.embedding_batch_size == 8
    assert s.llm_backend == "ollama"
    assert s.ollama_host == "https://llm.internal:443"
    assert s.ollama_model == "qwen2.5:7b"
    assert s.gguf_model_path == Path("/models/x.gguf")
    assert (s.llm_threads, s.llm_context, s.llm_max_tokens) == (4, 8192, 200)
    assert (s.llm_temperature, s.llm_timeout, s.llm_connect_timeout) == (0.0, 12.5, 1.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KEFU_LLM_BACKEND", "openai"),
        ("KEFU_LLM_THREADS", "0"),
        ("KEFU_LLM_TIMEOUT", "soon"),
        ("KEFU_EMBEDDING_BATCH_SIZE", "-1"),
        ("KEFU_LLM_TEMPERATURE", "-0.5"),
        ("KEFU_QUERY_BATCH_MAX", "0"),
        ("KEFU_EMBED_RUNTIME", "tensorrt"),
        ("KEFU_EMBED_THREADS", "0"),
        ("KEFU_QUERY_BATCH_WAIT_MS", "250"),
        ("KEFU_DATABASE_URL", "var/kefu.db"),
        ("KEFU_DATABASE_URL", "://nothing"),
        ("KEFU_WEBHOOK_URL", "ftp://hooks.example.com/x"),
        ("KEFU_WEBHOOK_URL", "hooks.example.com/x"),
        ("KEFU_WEBHOOK_URL", "https:///path-only"),
        # the HTTP API's
        ("KEFU_LLM_QUEUE", "-1"),
        ("KEFU_CORS_ORIGINS", "https://desk.example.com/app"),
        ("KEFU_CORS_ORIGINS", "desk.example.com"),
        ("KEFU_MAX_BODY_BYTES", "0"),
        ("KEFU_RATE_BURST", "0"),
        ("KEFU_LOG_LEVEL", "LOUD"),
        ("KEFU_INDEX_WATCH_SECONDS", "-1"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_settings_are_frozen() -> None:
    s = Settings.from_env({})
    with pytest.raises(AttributeError):
        s.data_dir = Path("elsewhere")  # type: ignore[misc]
    assert s.with_overrides(llm_threads=1).llm_threads == 1


def test_database_url_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    s = Settings.from_env({"KEFU_DATA_DIR": str(tmp_path)})
    assert s.database_url is None
    assert s.database_url_resolved == f"sqlite:///{tmp_path}/kefu.db"
    assert Settings.from_env({}).database_url_resolved == "sqlite:///var/kefu.db"
    assert s.webhook_url is None


def test_database_and_webhook_urls_read_their_variables() -> None:
    s = Settings.from_env(
        {
            "KEFU_DATABASE_URL": "postgresql+psycopg://kefu:s3cret@db:5432/kefu",
            "KEFU_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
        }
    )
    assert s.database_url_resolved == "postgresql+psycopg://kefu:s3cret@db:5432/kefu"
    assert s.webhook_url == "https://hooks.slack.com/services/T000/B000/XXXX"


def test_database_password_and_webhook_token_are_never_shown() -> None:
    s = Settings.from_env(
        {
            "KEFU_DATABASE_URL": "postgresql+psycopg://kefu:s3cret@db:5432/kefu",
            "KEFU_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX",
        }
    )
    shown = s.describe()
    assert shown["database_url"] == "postgresql+psycopg://kefu:***@db:5432/kefu"
    assert shown["webhook_url"] == "https://hooks.slack.com/***"
    for text in (repr(s), *shown.values()):
        assert "s3cret" not in text
        assert "XXXX" not in text


def test_query_batching_is_read_from_the_environment() -> None:
    s = Settings.from_env({"KEFU_QUERY_BATCH_MAX": "8", "KEFU_QUERY_BATCH_WAIT_MS": "0"})
    assert (s.query_batch_max, s.query_batch_wait_ms) == (8, 0.0)
    assert (Settings().query_batch_max, Settings().query_batch_wait_ms) == (1, 2.0)


def test_embed_runtime_is_read_from_the_environment() -> None:
    s = Settings.from_env({"KEFU_EMBED_RUNTIME": "ONNX-int8", "KEFU_EMBED_THREADS": "1"})
    assert (s.embed_runtime, s.embed_threads) == ("onnx-int8", 1)
    assert Settings.from_env({"KEFU_EMBED_RUNTIME": "torch"}).embed_runtime == "torch"
    assert Settings.from_env({}).embed_runtime == "onnx"
