"""What the local servers share: HTTPS on a free port, bearer-token checks, JSON bodies, faults and counters.

Faults are how the tests and the fault suite show that the product survives what Azure really does: throttling
with ``Retry-After``, 5xx bursts, slow answers and dropped connections.
"""

from __future__ import annotations

import base64
import json
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, quote, urlsplit

from lineage.local.credential import audience_of
from lineage.local.tls import LocalTLS


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with a failure instead of the real response.

    ``delay_s`` waits before anything happens (then the failure, or with ``status=0`` the real answer, late);
    ``drop`` closes the connection without an answer; ``respond_after_s`` (with ``status=0``) does the request's work
    at once and holds its answer back, as a server does when the client's timeout is shorter than its reply.
    ``text`` (with ``content_type``) answers that text instead of a JSON body, e.g. an HTML page or JSON no parser
    reads; ``headers`` adds headers (a redirect's ``Location``). ``trickle_s`` writes the answer (the fault's, or with
    ``status=0`` the real one) one byte every ``trickle_s`` seconds, from its body on, or from its status line on with
    ``trickle_headers``: every byte comes within any read timeout, the whole answer never in time.
    """

    times: int
    status: int = 503
    retry_after: float | None = None
    delay_s: float = 0.0
    drop: bool = False
    path_contains: str = ""
    body: Mapping[str, Any] | None = None
    respond_after_s: float = 0.0
    method: str = ""  # only requests of this method ("" for any)
    text: str | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] | None = None
    trickle_s: float = 0.0
    trickle_headers: bool = False


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
    raw: bytes | None = None  # sent as is, whatever the content type says (a fault's text)


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
        self.faults_served: Counter[str] = Counter()  # by kind: "429", "503", "dropped connection", "late answer"...
        self.connections = 0  # accepted (each costs a TLS handshake): clients should keep theirs alive

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        host, port = self._httpd.server_address[:2]
        return f"https://{host!s}:{port}"

    def inject(self, *, times: int = 1, status: int = 503, retry_after: float | None = None, delay_s: float = 0.0,
               drop: bool = False, path_contains: str = "", body: Mapping[str, Any] | None = None,
               respond_after_s: float = 0.0, method: str = "", text: str | None = None,
               content_type: str = "application/json", headers: Mapping[str, str] | None = None,
               trickle_s: float = 0.0, trickle_headers: bool = False) -> None:
        """Queue a fault for the next matching requests."""
        with self._lock:
            self._faults.append(Fault(times, status, retry_after, delay_s, drop, path_contains, body,
                                      respond_after_s, method, text, content_type, headers, trickle_s,
                                      trickle_headers))

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
            # A response goes out as one write (status line, headers and body; flushed by the base class after
            # each request) on a socket without Nagle's algorithm (TCP_NODELAY). Written in pieces, each small
            # piece waited for the client's delayed ACK: ~40 ms per response.
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server.connections += 1

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

            def do_PATCH(self) -> None:  # answered by the route (405 where a path does not take it), not with 501
                server._handle(self, "PATCH")

        httpd = _Server(self._address, RequestHandler)
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
        declared = handler.headers.get("Content-Length") or "0"
        length = int(declared) if declared.isdigit() else -1
        if length < 0:  # the body's end is unknown: answer, and close the connection rather than misread the next
            handler.close_connection = True
            self._send(handler, Response(400, self.error_body(400, "BadRequest",
                                                              f"invalid Content-Length {declared[:40]!r}")))
            return
        raw = handler.rfile.read(length) if length else b""
        fault = self._take_fault(method, parts.path)
        with self._lock:
            self.stats[f"{method} {_kind(parts.path)}"] += 1
            if fault is not None:
                self.faults_served[_fault_kind(fault)] += 1
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.drop:
                handler.close_connection = True
                handler.connection.close()
                return
            if fault.status:
                headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
                body = fault.body or self.error_body(fault.status, "InjectedFault", "injected fault")
                if fault.text is not None:
                    answer = Response(fault.status, None, {**headers, **(fault.headers or {})}, fault.content_type,
                                      fault.text.encode())
                else:
                    answer = Response(fault.status, body, {**headers, **(fault.headers or {})})
                self._send(handler, answer, fault)
                return
        response = self._answer(handler, method, parts.path, parts.query, raw)
        if fault is not None and fault.respond_after_s:
            time.sleep(fault.respond_after_s)
        self._send(handler, response, fault)

    def _answer(self, handler: BaseHTTPRequestHandler, method: str, path: str, query: str, raw: bytes) -> Response:
        """The real answer: bearer token checked, JSON body parsed, then ``route``."""
        token = handler.headers.get("Authorization", "")
        audience = audience_of(token.removeprefix("Bearer ").strip()) if token.startswith("Bearer ") else None
        if audience is None or audience.rstrip("/") not in self.audiences():
            return Response(401, self.error_body(401, "AuthenticationFailed", "missing or invalid bearer token"))
        try:
            body = json.loads(raw) if raw else None
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper than the parser goes
            return Response(400, self.error_body(400, "BadRequest", "body is not JSON"))
        return self.route(Request(method, path, parse_qs(query), body, dict(handler.headers)))

    def audiences(self) -> frozenset[str]:
        return frozenset({self.audience})

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains in path and fault.method in ("", method) and fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, response: Response, fault: Fault | None = None) -> None:
        if response.raw is not None:
            payload = response.raw
        elif response.content_type == "application/json":
            payload = json.dumps(response.body).encode() if response.body is not None else b""
        else:
            payload = str(response.body).encode()
        trickle = fault.trickle_s if fault is not None else 0.0
        if trickle and fault is not None and fault.trickle_headers:
            handler.wfile.flush()
            head = [f"HTTP/1.1 {response.status} {handler.responses.get(response.status, ('',))[0]}",
                    f"Content-Type: {response.content_type}", f"Content-Length: {len(payload)}",
                    *(f"{k}: {v}" for k, v in (response.headers or {}).items())]
            _trickle(handler, ("\r\n".join(head) + "\r\n\r\n").encode() + payload, trickle)
            return
        handler.send_response(response.status)
        handler.send_header("Content-Type", response.content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in (response.headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if trickle:
            handler.wfile.flush()
            _trickle(handler, payload, trickle)
            return
        handler.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    """A client that went away mid-request (killed, timed out, or dropped by a fault) is not the server's error."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError | ssl.SSLError):
            return
        super().handle_error(request, client_address)


def _trickle(handler: BaseHTTPRequestHandler, data: bytes, every_s: float) -> None:
    """Write ``data`` one byte at a time, until done or the client hangs up; then close the connection."""
    handler.close_connection = True
    try:
        for i in range(len(data)):
            handler.connection.sendall(data[i:i + 1])
            time.sleep(every_s)
    except OSError:  # the client cut it off, as it should
        return


def _fault_kind(fault: Fault) -> str:
    if fault.drop:
        return "dropped connection"
    if fault.trickle_s:
        return "trickled answer"
    if fault.status:
        after = "" if fault.retry_after is None else " with Retry-After"
        return f"{fault.status}{after}{' (slow)' if fault.delay_s else ''}"
    return "late answer" if fault.respond_after_s else "slow answer"


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


def list_page(items: Sequence[Any], skip_token: str | None, page_size: int, next_url: str) -> dict[str, Any] | None:
    """One page of an ARM-style list, as the real services answer a long one: ``value`` and, while more follow, a
    ``nextLink`` (``next_url`` with the ``$skipToken`` of the next page). None for a token this list never gave."""
    start = skip_offset(skip_token)
    if start is None:
        return None
    page: dict[str, Any] = {"value": list(items[start:start + page_size])}
    if start + page_size < len(items):
        page["nextLink"] = f"{next_url}&$skipToken={quote(_skip_token(start + page_size), safe='')}"
    return page


# Skip tokens are opaque base64, as ARM's are, and every one holds "+", "/" and "=": a client that sends a next
# link's query decoded ("+" read as a space, "/" and "=" bare) sends a token this server never gave, and is refused.
_SKIP_PREFIX = b"\xfb\xff"


def _skip_token(offset: int) -> str:
    return base64.b64encode(_SKIP_PREFIX + str(offset).encode()).decode()


def skip_offset(token: str | None) -> int | None:
    """Where a page starts: 0 without a token, None for a token no list gave."""
    if token is None:
        return 0
    try:
        raw = base64.b64decode(token, validate=True)
    except ValueError:
        return None
    offset = raw.removeprefix(_SKIP_PREFIX)
    return int(offset) if raw.startswith(_SKIP_PREFIX) and offset.isdigit() else None
