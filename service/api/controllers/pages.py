"""The pages kefu serves itself: the agent console, the admins' curated answers and FAQ
drafts page (``/console/learning``), the weekly report (``/console/report``), the chat
widget and its demo.

Plain HTML, CSS and JavaScript from ``service/web`` (no build step, nothing fetched from
elsewhere at run time; ``/schema``'s Swagger UI files come from the ``swagger-ui-bundle-v2``
package, at ``/schema/assets/``). ``/widget.js`` is the one script a site adds; it opens
``/widget/frame`` in an iframe, so the chat's own calls to the API are same-origin and
its styles cannot clash with the host page's. An app key limited to some origins
(``kefu keys create --role app --origin ...``) gets a ``frame-ancestors`` policy: the
browser refuses to show the chat inside pages of any other origin.
"""

# No ``from __future__ import annotations``: Litestar reads these annotations at run time.

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from litestar import Response, get
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from service.api.openapi import ASSETS_PATH, FAVICON, SWAGGER_UI_FILES
from service.api.runtime import Runtime
from service.keys import hash_key

WEB = Path(__file__).resolve().parent.parent.parent / "web"
#: Assets change with a release; five minutes keeps page loads at one request for each.
ASSET_CACHE = CacheControlHeader(max_age=300, public=True)
#: Pages hold no secret (the key is in the browser) but must follow a release at once.
PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def _page(name: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        (WEB / name).read_bytes(), media_type="text/html; charset=utf-8", headers={**PAGE_HEADERS, **(headers or {})}
    )


@get("/", include_in_schema=False)
async def index() -> Redirect:
    return Redirect("/demo")


@get("/console", include_in_schema=False)
async def console() -> Response[bytes]:
    # Chatwoot shows the console in an iframe (a Dashboard App): it may be framed.
    return _page("console.html")


@get("/console/learning", include_in_schema=False)
async def learning() -> Response[bytes]:
    # Curated answers and the FAQ drafts queue (admin keys); not meant to be framed.
    return _page("learning.html", {"X-Frame-Options": "DENY"})


@get("/console/report", include_in_schema=False)
async def report() -> Response[bytes]:
    # The weekly report (agent and admin keys); not meant to be framed.
    return _page("report.html", {"X-Frame-Options": "DENY"})


@get("/demo", include_in_schema=False)
async def demo() -> Response[bytes]:
    return _page("demo.html", {"X-Frame-Options": "DENY"})


@get("/favicon.ico", include_in_schema=False)
async def favicon() -> Response[bytes]:
    # The pages carry the icon inline; this is for what a browser shows without them
    # (/ready, /metrics, a JSON response).
    return Response(
        FAVICON.read_bytes(),
        media_type="image/svg+xml",
        headers={"Cache-Control": ASSET_CACHE.to_header(), "X-Content-Type-Options": "nosniff"},
    )


@get("/widget.js", include_in_schema=False)
async def widget_loader() -> Response[bytes]:
    return Response(
        (WEB / "widget.js").read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": ASSET_CACHE.to_header(), "X-Content-Type-Options": "nosniff"},
    )


@get("/widget/frame", include_in_schema=False)
async def widget_frame(
    runtime: NamedDependency[Runtime],
    key: Annotated[str | None, QueryParameter(max_length=200)] = None,
) -> Response[bytes]:
    return _page("widget.html", {"Content-Security-Policy": await frame_ancestors(runtime, key)})


@get(f"{ASSETS_PATH}/{{name:str}}", include_in_schema=False)
async def swagger_ui_asset(name: FromPath[str]) -> Response[bytes]:
    """Swagger UI's script, preset and stylesheet for ``/schema``, from the installed package."""
    if name not in SWAGGER_UI_FILES:
        raise NotFoundException()
    media_type = "text/css; charset=utf-8" if name.endswith(".css") else "text/javascript; charset=utf-8"
    return Response(
        _swagger_ui_file(name),
        media_type=media_type,
        headers={"Cache-Control": ASSET_CACHE.to_header(), "X-Content-Type-Options": "nosniff"},
    )


@cache
def _swagger_ui_file(name: str) -> bytes:
    return (Path(swagger_ui_path) / name).read_bytes()


async def frame_ancestors(runtime: Runtime, key: str | None) -> str:
    """Which pages may show the chat: those of the key's allowed origins, or any."""
    if not key:
        return "frame-ancestors *"
    record = await runtime.in_store(lambda store: store.authenticate(hash_key(key.strip())))
    if record is None or not record.allowed_origins:
        # An unknown key gets no further than the API's 401, shown in the chat.
        return "frame-ancestors *"
    return "frame-ancestors 'self' " + " ".join(record.allowed_origins)


def page_routes() -> list[Any]:
    assets = create_static_files_router(
        path="/static",
        directories=[WEB],
        cache_control=ASSET_CACHE,
        include_in_schema=False,
        name="kefu-static",
    )
    return [index, console, learning, report, demo, favicon, widget_loader, widget_frame, swagger_ui_asset, assets]
