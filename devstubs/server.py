"""A small threaded HTTP server with routes, canned JSON answers and a log of what it received."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from platforms.redirect import redirect_requests_session

__all__ = ["StubRequest", "StubResponse", "StubServer", "redirect_requests_session"]


@dataclass
class StubRequest:
    """One request the stub received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class StubResponse:
    status: int = 200
    body: Any = field(default_factory=dict)
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[StubRequest], StubResponse | dict[str, Any]]


class StubServer:
    """Serve registered (method, path) routes on 127.0.0.1 at a free port (or ``port``), in a thread."""

    def __init__(self, port: int = 0) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.requests: list[StubRequest] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def netloc(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.netloc}"

    def route(self, method: str, path: str) -> Callable[[Route], Route]:
        """Register a handler for ``method path`` (exact path, query ignored)."""

        def decorate(fn: Route) -> Route:
            self.routes[(method.upper(), path)] = fn
            return fn

        return decorate

    def received(self, path: str) -> list[StubRequest]:
        """Return the requests received on ``path``, oldest first."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> StubServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StubServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:  # keep test output clean
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                req = StubRequest(
                    method=self.command, path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                with stub._lock:
                    stub.requests.append(req)
                route = stub.routes.get((self.command, parts.path))
                result = route(req) if route else StubResponse(404, {"errcode": 404, "errmsg": "no such stub route"})
                resp = result if isinstance(result, StubResponse) else StubResponse(body=result)
                payload = resp.body if isinstance(resp.body, bytes) else json.dumps(
                    resp.body, ensure_ascii=False).encode()
                self.send_response(resp.status)
                self.send_header("Content-Type", resp.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in resp.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler
