"""LLM backends behind one protocol: Ollama in production, llama.cpp embedded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kefu.generators.base import (
    ChatMessage,
    Chunk,
    Generation,
    GenerationOptions,
    Generator,
    GeneratorHealth,
    Usage,
    generate,
)

if TYPE_CHECKING:
    from kefu.settings import Settings

__all__ = [
    "ChatMessage",
    "Chunk",
    "Generation",
    "GenerationOptions",
    "Generator",
    "GeneratorHealth",
    "Usage",
    "generate",
    "generator_from_settings",
]


def generator_from_settings(settings: Settings) -> Generator:
    """The configured backend, not yet warmed up."""
    if settings.llm_backend == "ollama":
        from kefu.generators.ollama import OllamaGenerator

        return OllamaGenerator(
            settings.ollama_host,
            settings.ollama_model,
            timeout=settings.llm_timeout,
            connect_timeout=settings.llm_connect_timeout,
            max_tokens=settings.llm_max_tokens,
            temperature=settings.llm_temperature,
            context=settings.llm_context,
        )
    from kefu.generators.llamacpp import LlamaCppGenerator

    return LlamaCppGenerator(
        settings.gguf_model_path,
        threads=settings.llm_threads,
        context=settings.llm_context,
        max_tokens=settings.llm_max_tokens,
        temperature=settings.llm_temperature,
        timeout=settings.llm_timeout,
    )
