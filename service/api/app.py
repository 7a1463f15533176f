"""The app factory: ``create_app(settings)`` -> a Litestar app serving kefu's HTTP API.

Nothing loads at import or in the factory: the app's lifespan opens the store and loads
the models and the index (:meth:`Runtime.start`) and releases them at shutdown. Tests
pass ready pieces (a store on a temporary file, the session's embedder, a generator
talking to a fake Ollama) and the lifespan uses them instead of building its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Unpack

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide

from service.api.auth import provide_caller, provide_runtime
from service.api.controllers.admin import reindex
from service.api.controllers.analytics import analytics, analytics_html
from service.api.controllers.assistant import AssistantController
from service.api.controllers.conversations import conversation_messages, me
from service.api.controllers.handoffs import HandoffController
from service.api.controllers.learning import CuratedController, DraftController, conversation_csat
from service.api.controllers.ops import health, metrics, ready
from service.api.controllers.pages import page_routes
from service.api.errors import exception_handlers
from service.api.middleware import RequestMiddleware, before_send, refuse_deep_json
from service.api.openapi import openapi_config
from service.api.runtime import Runtime, RuntimeParts

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from kefu.settings import Settings


def create_app(settings: Settings, **parts: Unpack[RuntimeParts]) -> Litestar:
    """The kefu API for ``settings``; given pieces are used instead of built.

    ``answerer`` brings its own retriever (and so embedder and index) and generator;
    otherwise ``embedder`` and ``generator`` replace the configured ones. A given
    ``store`` is migrated but not closed. ``open_access`` serves callers without an
    API key as admins: only ``kefu serve`` on a loopback address with no keys sets it.
    """
    runtime = Runtime(settings, **parts)

    return Litestar(
        route_handlers=_route_handlers(),
        lifespan=[_lifespan(runtime)],
        state=State({"runtime": runtime}),
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        middleware=[RequestMiddleware(runtime.metrics)],
        before_send=[before_send(runtime.metrics)],
        before_request=refuse_deep_json,
        cors_config=_cors_config(settings),
        openapi_config=openapi_config(),
        request_max_body_size=settings.max_body_bytes,
        # Logging is configured by `kefu serve` (JSON lines); Litestar's own would log
        # every exception with a traceback a second time.
        logging_config=None,
        debug=False,
    )


def _route_handlers() -> list[ControllerRouterHandler]:
    return [
        AssistantController,
        HandoffController,
        conversation_messages,
        conversation_csat,
        CuratedController,
        DraftController,
        me,
        reindex,
        analytics,
        analytics_html,
        health,
        ready,
        metrics,
        *page_routes(),
    ]


def _lifespan(runtime: Runtime) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Start the runtime (store, models, index, workers) with the app; stop it after."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return lifespan


def _cors_config(settings: Settings) -> CORSConfig | None:
    """Cross-origin access for the configured origins (the chat widget's pages); none without any."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Accept", "X-Request-ID"],
        expose_headers=["X-Request-ID", "Retry-After"],
        max_age=600,
    )
