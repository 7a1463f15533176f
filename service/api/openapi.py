"""The OpenAPI document at ``/schema``: its config and the error responses each route lists.

``/schema`` shows the document in Swagger UI, whose files come with the app (the
``swagger-ui-bundle-v2`` package, served at ``/schema/assets/``): the page works with no
network. Litestar's other viewers (Redoc, Elements, RapiDoc) load their scripts from CDNs
and are left out; ``/schema/openapi.json`` and ``/schema/openapi.yaml`` are the document.
"""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from pathlib import Path
from urllib.parse import quote

from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin, YamlRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme, Tag

from kefu import __version__
from service.api.schemas import ErrorBody

BEARER = "BearerAuth"
SECURITY: list[dict[str, list[str]]] = [{BEARER: []}]

_MEANING = {
    400: "The request is unusable (e.g. malformed JSON).",
    401: "No API key, or an unknown or revoked one.",
    403: "The API key's role may not do this.",
    404: "What the request refers to does not exist.",
    409: "The request conflicts with the current state.",
    413: "The request body is too large.",
    422: "A field is invalid; `detail.field` names it.",
    429: "This API key's rate limit is used up; see the Retry-After header.",
    503: "Not ready, a backend is unavailable, or the LLM queue is full (then with Retry-After).",
    504: "A backend did not answer in time.",
}

#: Where the Swagger UI files are served (service/api/controllers/pages.py), and which.
ASSETS_PATH = "/schema/assets"
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css")

#: kefu's icon: served at /favicon.ico, and inline (a data: URL) in each page's <head>.
FAVICON = Path(__file__).resolve().parent.parent / "web" / "favicon.svg"


def favicon_url() -> str:
    """The icon as a data: URL, as the pages in service/web carry it (no request)."""
    return "data:image/svg+xml," + quote(FAVICON.read_text(encoding="utf-8").strip(), safe="/:='")


#: What every authenticated route can answer besides success.
AUTH_ERRORS = (400, 401, 403, 413, 422, 429)


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    return {
        code: ResponseSpec(data_container=ErrorBody, description=_MEANING[code], generate_examples=False)
        for code in codes
    }


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="kefu",
        version=__version__,
        description=(
            "A self-hosted support assistant for crypto-wallet help desks: grounded answers with "
            "citations for the in-app assistant, suggested replies and search for agents, and a "
            "handoff queue. Authenticate with `Authorization: Bearer KEY` (keys from "
            "`kefu keys create --role app|agent|admin`). Errors have one shape: "
            '`{"error": {"code", "message", "detail"}}`.'
        ),
        path="/schema",
        render_plugins=[
            SwaggerRenderPlugin(
                path=["/", "/swagger"],
                js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
                css_url=f"{ASSETS_PATH}/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
                # Litestar's default is an image on a CDN.
                favicon=f'<link rel="icon" href="{favicon_url()}">',
            ),
            JsonRenderPlugin(),
            YamlRenderPlugin(),
        ],
        components=Components(
            security_schemes={
                BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An API key from `kefu keys create`; its role (app, agent, admin) "
                    "decides which routes it may call.",
                )
            }
        ),
        tags=[
            Tag(name="assistant", description="The in-app assistant (roles app, agent, admin)."),
            Tag(name="agents", description="The agent sidebar (roles agent, admin)."),
            Tag(name="handoffs", description="The handoff queue (roles agent, admin)."),
            Tag(name="operations", description="Health, readiness and metrics (no key needed)."),
            Tag(name="admin", description="Administration (role admin)."),
            Tag(
                name="curated answers",
                description="Curated answers and the FAQ drafts review queue (read: agent, admin; change: admin).",
            ),
        ],
    )
