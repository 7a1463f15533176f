"""LLM backends behind one protocol: Ollama or an OpenAI-compatible server (one or a pool of
hosts) in production, llama.cpp embedded."""

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
    from kefu.generators.server import ServerLimits
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
    """The configured backend, not yet warmed up.

    Several servers, or one running generations in parallel, make a
    :class:`~kefu.generators.pool.HostPool`.
    """
    members = _server_generators(settings)
    if members:
        if len(members) == 1 and settings.llm_parallel == 1:
            return members[0]
        from kefu.generators.pool import HostPool

        return HostPool(
            members,
            parallel=settings.llm_parallel,
            queue=settings.llm_queue,
            health_interval=settings.llm_health_interval,
            health_timeout=settings.llm_connect_timeout,
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


def _server_generators(settings: Settings) -> list[Generator]:
    """One generator per configured server of the Ollama or OpenAI-compatible backend; none for llama.cpp."""
    limits: ServerLimits = {
        "timeout": settings.llm_timeout,
        "connect_timeout": settings.llm_connect_timeout,
        "max_tokens": settings.llm_max_tokens,
        "temperature": settings.llm_temperature,
    }
    if settings.llm_backend == "ollama":
        from kefu.generators.ollama import OllamaGenerator

        return [
            OllamaGenerator(host, settings.ollama_model, context=settings.llm_context, **limits)
            for host in settings.ollama_hosts
        ]
    if settings.llm_backend == "openai":
        from kefu.generators.openai_compat import OpenAICompatibleGenerator

        return [
            OpenAICompatibleGenerator(url, settings.openai_model, api_key=settings.openai_api_key, **limits)
            for url in settings.openai_base_urls
        ]
    return []
