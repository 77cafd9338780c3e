"""What the local servers share: HTTPS on a free port, bearer-token checks, JSON bodies, faults and counters.

Faults are how the tests and the fault suite show that the product survives what Azure really does: throttling
with ``Retry-After``, 5xx bursts, slow answers and dropped connections.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from lineage.local.credential import audience_of
from lineage.local.tls import LocalTLS


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with a failure instead of the real response."""

    times: int
    status: int = 503
    retry_after: float | None = None
    delay_s: float = 0.0
    drop: bool = False
    path_contains: str = ""
    body: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any
    headers: Mapping[str, str]


@dataclass
class Response:
    status: int
    body: Any = None
    headers: Mapping[str, str] | None = None
    content_type: str = "application/json"


Handler = Callable[[Request], Response]


class LocalServer:
    """A threaded HTTPS server; subclasses implement ``route``."""

    audience = ""

    def __init__(self, tls: LocalTLS, host: str = "127.0.0.1", port: int = 0) -> None:
        self._tls = tls
        self._address = (host, port)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"https://{host!s}:{port}"

    def inject(self, *, times: int = 1, status: int = 503, retry_after: float | None = None, delay_s: float = 0.0,
               drop: bool = False, path_contains: str = "", body: Mapping[str, Any] | None = None) -> None:
        """Queue a fault for the next matching requests."""
        with self._lock:
            self._faults.append(Fault(times, status, retry_after, delay_s, drop, path_contains, body))

    @property
    def tls(self) -> LocalTLS:
        """The CA and certificate it serves with (another local server can share them)."""
        return self._tls

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def route(self, request: Request) -> Response:
        raise NotImplementedError

    def error_body(self, status: int, code: str, message: str) -> Any:
        return {"error": {"code": code, "message": message}}

    def start(self) -> Self:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server._handle(self, "GET")

            def do_POST(self) -> None:
                server._handle(self, "POST")

            def do_PUT(self) -> None:
                server._handle(self, "PUT")

            def do_DELETE(self) -> None:
                server._handle(self, "DELETE")

        httpd = ThreadingHTTPServer(self._address, RequestHandler)
        httpd.daemon_threads = True
        httpd.socket = self._tls.server_context().wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------------------- plumbing

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        self.stats[f"{method} {_kind(parts.path)}"] += 1
        fault = self._take_fault(parts.path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.drop:
                handler.close_connection = True
                handler.connection.close()
                return
            if fault.status:
                headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else None
                body = fault.body or self.error_body(fault.status, "InjectedFault", "injected fault")
                self._send(handler, Response(fault.status, body, headers))
                return
        token = handler.headers.get("Authorization", "")
        audience = audience_of(token.removeprefix("Bearer ").strip()) if token.startswith("Bearer ") else None
        if audience is None or audience.rstrip("/") not in self.audiences():
            self._send(handler, Response(401, self.error_body(401, "AuthenticationFailed",
                                                               "missing or invalid bearer token")))
            return
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            self._send(handler, Response(400, self.error_body(400, "BadRequest", "body is not JSON")))
            return
        request = Request(method, parts.path, parse_qs(parts.query), body, dict(handler.headers))
        self._send(handler, self.route(request))

    def audiences(self) -> frozenset[str]:
        return frozenset({self.audience})

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains in path and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: Response) -> None:
        if response.content_type == "application/json":
            payload = json.dumps(response.body).encode() if response.body is not None else b""
        else:
            payload = str(response.body).encode()
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in (response.headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)


def _kind(path: str) -> str:
    """A path with ids collapsed, for the request counters."""
    segments = path.strip("/").split("/")
    keep = {"pipelineruns", "queryActivityruns", "queryPipelineRuns", "pipelines", "datasets", "linkedservices",
            "dataflows", "globalParameters", "entity", "bulk", "uniqueAttribute", "guid", "lineage", "types",
            "typedef", "typedefs", "name", "type"}
    return "/".join(s if s in keep else "*" for s in segments if s) or "/"


def query_value(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None
