"""A real headless Chromium (Debian's, driven by Playwright) against the real app on uvicorn
on loopback: the real embedder, the demo index, the embedded llama.cpp LLM, a SQLite file.

Playwright's own browser download does not work offline: ``make browser`` installs
Debian's ``chromium`` and the tests launch it by path (``KEFU_CHROMIUM`` overrides).
Screenshots go to ``KEFU_SCREENSHOTS`` (the README's come from ``docs/screenshots``),
else to the test's temporary folder.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kefu.settings import Settings
from service.keys import create_key
from service.store import Store

CHROMIUM = os.environ.get("KEFU_CHROMIUM", "/usr/bin/chromium")


@dataclass
class Served:
    """The app on a loopback port, its store, a key per role and its runtime (a test may
    switch ``runtime.open_access`` on to play a server run without keys)."""

    url: str
    store: Store
    keys: dict[str, str]
    runtime: Any = None

    def api(self, method: str, path: str, role: str = "admin", **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=60, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Module scope: the server (and its model process) and Playwright stop when the browser
# tests end. Playwright's sync API keeps an event loop running on the main thread until
# it stops, which would break every asyncio test after it.
@pytest.fixture(scope="module")
def served(settings: Settings, harbor_data_dir: Path, embedder, tmp_path_factory) -> Iterator[Served]:  # type: ignore[no-untyped-def]
    import uvicorn

    from service.api import create_app

    if not settings.default_gguf_path.is_file():
        pytest.fail(f"no LLM at {settings.default_gguf_path}: run `make models` first")
    db = tmp_path_factory.mktemp("browser") / "kefu.db"
    app_settings = Settings.from_env({}).with_overrides(
        data_dir=harbor_data_dir,
        embedding_model=str(settings.default_embedder_dir),
        gguf_path=settings.default_gguf_path,
        database_url=f"sqlite:///{db}",
        llm_backend="llamacpp",
        rate_limit=0,
    )
    store = Store.from_settings(app_settings)
    store.migrate()
    keys = {role: create_key(store, role, f"{role}-browser")[0] for role in ("app", "agent", "admin")}  # type: ignore[arg-type]
    port = _free_port()
    app = create_app(app_settings, store=store, embedder=embedder)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, name="kefu-uvicorn", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the app did not become ready on loopback")
        time.sleep(0.2)
    try:
        yield Served(url=url, store=store, keys=keys, runtime=app.state.runtime)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium) first")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    target = Path(os.environ.get("KEFU_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target
