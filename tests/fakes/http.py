"""Local HTTP servers for the fakes: a request handler that keeps test output quiet, and a
server for it on 127.0.0.1 running in a daemon thread until it is stopped."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that logs nothing (test output stays readable)."""

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(handler: type[BaseHTTPRequestHandler], port: int = 0) -> ThreadingHTTPServer:
    """``handler`` served on 127.0.0.1:``port`` (0: any free port) from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def base_url(server: ThreadingHTTPServer | None) -> str:
    """``http://host:port`` of a running server."""
    assert server is not None, "the server is not started"
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


def stop(server: ThreadingHTTPServer | None) -> None:
    """Stop serving and close the listening socket (nothing to do if never started)."""
    if server is not None:
        server.shutdown()
        server.server_close()


class LocalServer:
    """A fake served on 127.0.0.1 by a request handler class it makes (:meth:`handler`):
    ``start()`` and ``stop()``, or ``with``."""

    #: What clients are given after ``http://host:port`` (an API's path prefix).
    prefix: ClassVar[str] = ""
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return base_url(self.server) + self.prefix

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, bound to this fake."""
        raise NotImplementedError

    def start(self, port: int = 0) -> Self:
        """Serve on ``port`` (0: any free one)."""
        self.server = serve(self.handler(), port)
        return self

    def stop(self) -> None:
        stop(self.server)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
