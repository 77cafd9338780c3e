"""HTTP sessions for the product's clients: ``requests`` without reading the whole environment on every call.

``requests`` looks up proxy settings and the CA bundle in the environment for every request it sends (its
``trust_env``): two scans of all of ``os.environ`` per call, a quarter of a millisecond with the few dozen variables
of a shell and more under the Functions host, which hands the process every app setting. A worker sends four or five
requests per run, so that was a tenth of its CPU. This session reads the environment once per scheme, host and
request options and reuses what it found for its lifetime; proxy and CA settings change with a restart, as app
settings do.

Each call also gets an overall deadline. ``requests``' read timeout bounds each wait for the next bytes, not the
answer: a server (or a proxy) trickling one byte every few seconds would hold a worker forever. A single watchdog
thread per process shuts down the socket of a call still running at its deadline; the call then fails with
:class:`DeadlineExceeded`, a ``requests`` timeout, which both clients treat as transient. The connection is found
through connection classes that register themselves with the call of their thread when they connect or send, so
the deadline covers the TLS handshake, the status line and headers, and the body alike.
"""

from __future__ import annotations

import contextlib
import email.utils
import heapq
import http.cookiejar
import itertools
import math
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.poolmanager
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from requests.hooks import dispatch_hook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

DEADLINE_PER_TIMEOUT = 4  # a call's overall deadline, in read timeouts, unless one is given


def call_deadline(timeout_s: float, deadline_s: float | None) -> float:
    """A call's overall deadline: the one given, else a few read timeouts. A bulk write of 1,000 entities may take
    Purview a while to answer, but not forever: a read timeout alone waits again for every byte of an answer that
    trickles in."""
    return deadline_s if deadline_s is not None else DEADLINE_PER_TIMEOUT * timeout_s


RETRY_AFTER_CAP_S = 60.0  # the longest Retry-After honoured as is: a worker holds its message while it sleeps


class DeadlineExceeded(requests.exceptions.ReadTimeout):
    """No complete answer within the call's overall deadline (the connection was cut)."""


class _Call:
    """One call under a deadline, and the connections it used."""

    __slots__ = ("connections", "deadline", "done", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connections: list[Any] = []
        self.done = False
        self.expired = False


class _Watchdog:
    """One daemon thread per process that cuts the connections of calls past their deadline.

    Calls are kept in a heap by deadline and are not removed when they end (they are marked done), so starting and
    ending a call costs a lock and a push; the thread is woken only when a call's deadline is earlier than the one it
    sleeps towards.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, _Call]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._local = threading.local()

    def start(self, deadline_s: float) -> _Call:
        call = _Call(time.monotonic() + deadline_s)
        with self._lock:
            earliest = self._heap[0][0] if self._heap else math.inf
            heapq.heappush(self._heap, (call.deadline, next(self._order), call))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            elif call.deadline < earliest:
                self._wake.notify()
        return call

    def end(self, call: _Call) -> None:
        with self._lock:
            call.done = True

    def current(self) -> _Call | None:
        call: _Call | None = getattr(self._local, "call", None)
        return call

    def set_current(self, call: _Call | None) -> None:
        self._local.call = call

    def attach(self, connection: Any) -> None:
        """The thread's current call now uses this connection (a connection serves one call at a time)."""
        call = self.current()
        with self._lock:
            connection._lineage_call = call
            if call is not None and not call.done:
                call.connections.append(connection)

    def _run(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, call = heapq.heappop(self._heap)
                    if not call.done:
                        call.expired = True
                        for connection in call.connections:
                            if getattr(connection, "_lineage_call", None) is call:
                                _cut(connection)
                self._wake.wait(self._heap[0][0] - now if self._heap else None)


def _cut(connection: Any) -> None:
    """Shut the socket down under the thread blocked on it: its read returns at once with an error."""
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the file descriptor itself, not a TLS close_notify


_WATCHDOG = _Watchdog()


class _WatchedHTTPConnection(HTTPConnection):
    """A connection the watchdog cuts when its call's deadline passes (connecting, sending or waiting to read)."""

    def connect(self) -> None:
        _WATCHDOG.attach(self)
        super().connect()

    def request(self, *args: Any, **kwargs: Any) -> None:
        _WATCHDOG.attach(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    """The same over TLS (the watched methods come first in the order, then HTTPS's own connect)."""


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class WatchedAdapter(HTTPAdapter):
    """An adapter whose connections (direct or through an HTTP proxy) register with the call that uses them."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: Any, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if manager.pool_classes_by_scheme is urllib3.poolmanager.pool_classes_by_scheme:  # not a SOCKS manager
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager


class EnvironmentOnceSession(requests.Session):
    """A ``requests.Session`` that merges environment settings once per (scheme, host, options), and gives each call
    an overall deadline of ``deadline_s`` (None: none)."""

    def __init__(self, deadline_s: float | None = None) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._environment_lock = threading.Lock()
        self.deadline_s = deadline_s
        # No cookie is kept, on either path: these APIs use none, and one kept would go with every later call.
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        if deadline_s is not None:
            for prefix in ("http://", "https://"):
                self.mount(prefix, WatchedAdapter())

    def request(self, method: str, url: str | bytes, params: Any = None, data: Any = None,  # noqa: PLR0917 - Session's
                headers: Any = None, cookies: Any = None, files: Any = None, auth: Any = None, timeout: Any = None,
                allow_redirects: bool = True, proxies: Any = None, hooks: Any = None, stream: bool | None = None,
                verify: Any = None, cert: Any = None, json: Any = None) -> requests.Response:
        """A REST call as the product's clients make them, prepared and handed to its adapter directly.

        Every client here calls a REST API with its token in a header, no cookies and no redirects (azure-core and
        the Purview client both refuse them: the token would follow). ``requests``' general path would still,
        per call, merge the session's cookie jar, look up ``~/.netrc`` (whose entry for the host would replace the
        bearer token with Basic credentials), merge settings through protocol checks and walk the redirect
        machinery: about 110 µs of CPU, a fifth of a call's. Response hooks run as ``requests`` runs them. A call
        that asks for cookies, files, auth or redirects takes the general path.
        """
        if (cookies or files or auth or allow_redirects or self.cookies or self.auth or self.hooks["response"]
                or self.params):
            return super().request(method, url, params=params, data=data, headers=headers, cookies=cookies,
                                   files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                                   proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert, json=json)
        prepared = requests.PreparedRequest()
        prepared.prepare_method(method)
        prepared.prepare_url(url.decode() if isinstance(url, bytes) else url, params)
        merged = requests.structures.CaseInsensitiveDict(self.headers)
        for key, value in (headers or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        prepared.prepare_headers(merged)
        prepared.prepare_body(data or {}, None, json)
        prepared.prepare_hooks(hooks or {})
        settings = self.merge_environment_settings(prepared.url, proxies or {}, stream, verify, cert)

        def send() -> requests.Response:
            started = time.perf_counter()
            response = self.get_adapter(str(prepared.url)).send(prepared, timeout=timeout, **settings)
            response.elapsed = timedelta(seconds=time.perf_counter() - started)
            answer: requests.Response = dispatch_hook("response", prepared.hooks, response, timeout=timeout,
                                                      **settings)
            if not settings.get("stream"):
                _ = answer.content  # read, and the connection back in its pool, as requests does
            return answer

        return self._call(prepared, send)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """One call, its whole answer (status, headers and body) read before its deadline or cut off there."""
        return self._call(request, lambda: super(EnvironmentOnceSession, self).send(request, **kwargs))

    def _call(self, request: requests.PreparedRequest, send: Callable[[], requests.Response]) -> requests.Response:
        if self.deadline_s is None:
            return send()
        outer = _WATCHDOG.current()
        call = _WATCHDOG.start(self.deadline_s)
        _WATCHDOG.set_current(call)
        try:
            response = send()
            _ = response.content  # the body too, also when the caller streams: it is read here, in time
            return response
        except Exception as exc:
            if call.expired:
                raise DeadlineExceeded(f"no complete answer within {self.deadline_s:g} s: the connection was cut "
                                       "(a read timeout alone waits again for every piece of a slow answer)",
                                       request=request) from exc
            raise
        finally:
            _WATCHDOG.end(call)
            _WATCHDOG.set_current(outer)

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(str(url))
        try:
            key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify, cert)
            hash(key)
        except TypeError:  # an unusual option (a list for cert): no caching for it
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        with self._environment_lock:
            found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, dict(proxies or {}), stream, verify, cert)
            with self._environment_lock:
                self._environment[key] = found
        if proxies is not None:  # the base class leaves the environment's proxies in the caller's dict too
            for scheme, proxy in found["proxies"].items():
                proxies.setdefault(scheme, proxy)
        return {**found, "proxies": dict(found["proxies"])}


def azure_transport(deadline_s: float | None = None) -> RequestsTransport:
    """An azure-core transport on an ``EnvironmentOnceSession`` (each call under ``deadline_s``), its adapters
    mounted as azure-core mounts them on the sessions it makes itself (no retries below azure-core's own retry
    policy, no redirects)."""
    session = EnvironmentOnceSession(deadline_s)
    retries = Retry(total=False, redirect=False, raise_on_status=False)
    adapter = WatchedAdapter(max_retries=retries) if deadline_s is not None else HTTPAdapter(max_retries=retries)
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return RequestsTransport(session=session, session_owner=True)


def retry_after_s(value: str | None, cap_s: float = RETRY_AFTER_CAP_S) -> float | None:
    """A ``Retry-After`` header in seconds (delta-seconds or an HTTP date), at most ``cap_s``; None when absent or
    unreadable. A day-long value is not honoured as is: the caller sleeps ``cap_s`` and tries again (and fails
    transiently if still refused, so the queue retries later without a worker held asleep)."""
    if not value or len(value) > 64:  # a 5,000-digit "number" is not a delay
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), cap_s)
