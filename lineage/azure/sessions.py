"""HTTP sessions for the product's clients: ``requests`` without reading the whole environment on every call.

``requests`` looks up proxy settings and the CA bundle in the environment for every request it sends (its
``trust_env``): two scans of all of ``os.environ`` per call, a quarter of a millisecond with the few dozen variables
of a shell and more under the Functions host, which hands the process every app setting. A worker sends four or five
requests per run, so that was a tenth of its CPU. This session reads the environment once per scheme, host and
request options and reuses what it found for its lifetime; proxy and CA settings change with a restart, as app
settings do.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry


class EnvironmentOnceSession(requests.Session):
    """A ``requests.Session`` that merges environment settings once per (scheme, host, options)."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._environment_lock = threading.Lock()

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


def azure_transport() -> RequestsTransport:
    """An azure-core transport on an ``EnvironmentOnceSession``, its adapters mounted as azure-core mounts them on
    the sessions it makes itself (no retries below azure-core's own retry policy, no redirects)."""
    session = EnvironmentOnceSession()
    adapter = HTTPAdapter(max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for prefix in ("http://", "https://"):
        session.mount(prefix, adapter)
    return RequestsTransport(session=session, session_owner=True)
