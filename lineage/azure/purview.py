"""Writing a run's entities to Purview's Data Map with pyapacheatlas.

Purview fails a whole bulk call when a reference by unique attribute points at an asset that does not exist, when
an asset is created without an attribute its type makes mandatory, and when a scanned asset is re-sent without them
(field notes §5–6). So the writer first finds what the catalog already holds for each asset the run touched, among
the identities it may hold it under (``resolve``: a view for a table, a resource set or its file, the other storage
family; cached, since assets rarely disappear), references those, creates the missing ones in the same call under
placeholder guids with the parent chain a scanner would create (checked against the live type definitions first, so a
type that asks for more than the run tells fails with that reason, not with Purview's), and upserts our own Data
Factory entities. One bulk call per run unless the run exceeds the per-call entity limit; then batches keep each
operation together with the assets it creates.

An activity's facts (status, last run time, rows, bytes, error message) describe its latest run. Runs reach the
writer out of order (retries, duplicated events, several invocations at once), so it knows the ``lastRunTime``
Purview holds for each activity (what it wrote itself, else one lookup per activity type) and sends an older run's
activity without facts; the latest run's facts go whole, absent ones as null. Calls go over kept-alive connections.

What Purview answers is checked before it is believed: a redirect is never followed (the request carries the
token and the payload; ``requests`` would re-send both), a 2xx answer must be JSON this service reads (an HTML page
from a proxy or a wrong endpoint, or an integer too long for Python, is a permanent error that says so), and a bulk
write counts as written only when its answer is a mutation result. Each call has an overall deadline, and a
``Retry-After`` is honoured up to a cap.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
from azure.core.credentials import TokenCredential
from pyapacheatlas.auth.azcredential import AzCredentialWrapper
from pyapacheatlas.core import AtlasClient
from pyapacheatlas.core.util import AtlasException, AtlasResponse

from lineage.azure.sessions import RETRY_AFTER_CAP_S, EnvironmentOnceSession, call_deadline, retry_after_s
from lineage.extract.entities import activity_facts
from lineage.extract.jsontext import JSONTextError, loads
from lineage.extract.stores import Asset

log = logging.getLogger(__name__)

OWN_TYPE_PREFIXES = ("azure_data_factory", "adf_")
MAX_ENTITIES_PER_CALL = 1_000  # Purview fails somewhere above ~4,000; stay well below
RESOURCE_SET_API_VERSION = "2019-11-01-preview"
DATA_MAP_API_VERSION = "2023-09-01"  # the first Data Map API whose bulk write takes collectionId
ABSENT_TTL_S = 60.0  # an asset found missing is not asked about again for this long (a scan may add it later)
_LOOKUP_CHUNK = 40  # qualifiedNames per lookup call (keeps the URL short)
_TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# An activity's facts describe its latest run: written whole (absent ones as null, so an older run's error message or
# row count does not linger), and never replaced by the facts of an older run processed later.


class PurviewError(Exception):
    """A failed Purview call. ``transient`` errors are worth retrying later; the others need a fix first."""

    def __init__(self, message: str, *, status: int | None, code: str | None, transient: bool) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.transient = transient


class CatalogChangedError(PurviewError):
    """An asset the writer believed the catalog held is gone: resolve the run's assets again and rebuild."""


@dataclass(slots=True)
class PushResult:
    """What one push changed."""

    created: int = 0
    updated: int = 0
    calls: int = 0
    guid_assignments: dict[str, str] = field(default_factory=dict)


class _BadAnswer(Exception):  # noqa: N818 - carried to ``_call``, which names the call and makes a PurviewError
    """A 2xx or 3xx answer that cannot be believed; the message says why."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class _Answer:
    """What pyapacheatlas reads of a response (``AtlasResponse``'s ``body``), for an answer checked here."""

    body: Any
    status_code: int
    method: str

    @property
    def is_successful(self) -> bool:
        return 200 <= self.status_code < 300


class _LastResponse(threading.local):
    status: int | None = None
    retry_after: str | None = None


class _SessionAtlasClient(AtlasClient):  # type: ignore[misc] # pyapacheatlas is untyped
    """pyapacheatlas' client on kept-alive connections: one ``requests.Session`` per thread.

    pyapacheatlas 0.16.0 sends every request with the module-level ``requests.get``/``post``/``put``/``delete``, so
    each call opens a new TCP connection and does a new TLS handshake. Its four ``_*_http`` methods are the only
    place it touches the network; they are replaced here, and responses still go through its own ``AtlasResponse``
    (same bodies, same exceptions).
    """

    def __init__(self, endpoint: str, authentication: AzCredentialWrapper, *, deadline_s: float | None = None,
                 **requests_args: Any) -> None:
        super().__init__(endpoint, authentication=authentication, **requests_args)
        self._sessions = threading.local()
        self._deadline_s = deadline_s

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = EnvironmentOnceSession(self._deadline_s)
        return session

    def _send(self, method: str, url: str, options: Mapping[str, Any], *, params: Any = None, body: Any = None,
              files: Any = None) -> Any:
        headers = self.generate_request_headers(options.get("headers_include"), options.get("headers_exclude"))
        response = self._session().request(method, url, params=params or None, json=body or None,
                                           files=files or None, headers=headers, allow_redirects=False,
                                           **self._requests_args)
        if response.status_code >= 400 or options.get("responseNotJson"):  # errors: AtlasResponse raises, as ever
            extra = {"responseNotJson": options["responseNotJson"]} if "responseNotJson" in options else {}
            return AtlasResponse(response, **extra)
        return _Answer(_checked_body(response), response.status_code, method)

    def _get_http(self, url: str, params: Any = None, **kwargs: Any) -> Any:
        return self._send("GET", url, kwargs, params=params)

    def _post_http(self, url: str, params: Any = None, json: Any = None, files: Any = None, **kwargs: Any) -> Any:
        return self._send("POST", url, kwargs, params=params, body=json, files=files)

    def _put_http(self, url: str, params: Any = None, json: Any = None, **kwargs: Any) -> Any:
        return self._send("PUT", url, kwargs, params=params, body=json)

    def _delete_http(self, url: str, params: Any = None, json: Any = None, **kwargs: Any) -> Any:
        return self._send("DELETE", url, kwargs, params=params, body=json)


class PurviewWriter:
    """Upserts entities produced by the core. Thread-safe; keep one per process to share its caches."""

    def __init__(
        self,
        credential: TokenCredential,
        endpoint: str,
        *,
        timeout_s: float = 30.0,
        deadline_s: float | None = None,
        max_attempts: int = 5,
        backoff_base_s: float = 1.0,
        backoff_cap_s: float = 60.0,
        retry_after_cap_s: float = RETRY_AFTER_CAP_S,
        max_entities_per_call: int = MAX_ENTITIES_PER_CALL,
        known_assets: int = 100_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._last = _LastResponse()
        self._client = _SessionAtlasClient(
            endpoint.rstrip("/"),
            authentication=AzCredentialWrapper(credential),
            deadline_s=call_deadline(timeout_s, deadline_s),
            requests_timeout=timeout_s,
            requests_hooks={"response": [self._remember]},
        )
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.retry_after_cap_s = retry_after_cap_s
        self.max_entities_per_call = max_entities_per_call
        self._sleep = sleep
        self._known: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._absent: OrderedDict[tuple[str, str], float] = OrderedDict()  # looked up and missing, and when
        self._known_limit = known_assets
        self._known_lock = threading.Lock()
        self._last_runs: OrderedDict[tuple[str, str], int] = OrderedDict()  # activity -> lastRunTime in Purview
        self._mandatory: dict[str, frozenset[str]] = {}  # type -> attributes its live definition makes mandatory
        self._activity_locks = tuple(threading.Lock() for _ in range(64))
        self.calls = 0

    def push(self, entities: Sequence[Mapping[str, Any]], collection: str | None = None) -> PushResult:
        """Upsert the entities of one run; replaying the same entities changes nothing.

        With a ``collection``, every entity the call sends (our Data Factory entities and the assets it creates)
        lands in it; assets the catalog already holds are only referenced, so they stay where their scan put them.
        """
        result = PushResult()
        if not entities:
            return result
        # Two runs of the same activities pushed at once by two threads: one at a time, or the older could win.
        stripes = sorted({hash(_key(e)) % len(self._activity_locks) for e in entities if _is_activity(e)})
        with ExitStack() as held:
            for stripe in stripes:
                held.enter_context(self._activity_locks[stripe])
            return self._push(self._latest_facts(entities), result, collection)

    def resolve(self, assets: Iterable[Asset]) -> dict[Asset, Asset]:
        """Each asset as the catalog holds it: the first of the asset and its alternatives that Purview has, else
        the asset itself (to be created). Candidates already known cost nothing; the rest are looked up together,
        one call per type and chunk, only for assets none of whose candidates is known."""
        candidates = {a: (a, *a.alternatives) for a in assets}
        with self._known_lock:
            known = {_asset_key(c) for cs in candidates.values() for c in cs if _asset_key(c) in self._known}
        unsettled = {_asset_key(c) for cs in candidates.values()
                     if not any(_asset_key(c) in known for c in cs) for c in cs}
        held = known | self._held(unsettled)
        return {a: next((c for c in cs if _asset_key(c) in held), a) for a, cs in candidates.items()}

    def mandatory_attributes(self, type_name: str, _below: frozenset[str] = frozenset()) -> frozenset[str]:
        """The attributes and relationship attributes Purview's live definition of a type (and of its super types)
        makes mandatory; cached per type. A type Purview does not know is a permanent error naming it; a type that
        is its own super type (only a broken answer says so) is read once."""
        cached = self._mandatory.get(type_name)
        if cached is not None:
            return cached
        if type_name in _below:
            return frozenset()
        definition = self.type_definition(type_name)
        if definition is None:
            raise PurviewError(f"Purview does not know the type {type_name}: the account lacks the type definitions "
                               "its scanners use for this store", status=404, code="ATLAS-404-00-003",
                               transient=False)
        required = {str(a.get("name")) for key in ("attributeDefs", "relationshipAttributeDefs")
                    for a in definition.get(key) or [] if isinstance(a, Mapping) and a.get("isOptional") is False}
        parents = definition.get("superTypes")
        for parent in parents if isinstance(parents, list) else []:
            required |= self.mandatory_attributes(str(parent), _below | {type_name})
        self._mandatory[type_name] = frozenset(required)
        return self._mandatory[type_name]

    @property
    def endpoint(self) -> str:
        """The Atlas v2 base URL it writes to (``.../datamap/api/atlas/v2``)."""
        return str(self._client.endpoint_url)

    def request(self, what: str, method: str, url: str, *, params: Mapping[str, str] | None = None,
                body: Any = None) -> Any:
        """One call to another API of the same account (search, delete, collections, policies), with the writer's
        token, retries, deadline and checks of the answer; its JSON body."""
        client, query = self._client, dict(params or {})
        if method == "GET":
            return self._call(what, lambda: client._get_http(url, params=query).body)
        if method == "POST":
            return self._call(what, lambda: client._post_http(url, params=query, json=body).body)
        if method == "DELETE":
            return self._call(what, lambda: client._delete_http(url, params=query).body)
        raise ValueError(f"unsupported method {method}")

    def account_url(self, path: str) -> str:
        """A URL of the account API beside the Data Map's (``https://{account}.purview.azure.com{path}``)."""
        parts = urlsplit(self._client.endpoint_url)
        return f"{parts.scheme}://{parts.netloc}{path}"

    def resource_set_config(self) -> dict[str, Any]:
        """The account's resource-set rule configuration (the account API beside the Data Map's)."""
        url = self.account_url("/account/resourceSetRuleConfigs/defaultResourceSetRuleConfig")
        body = self.request("resource-set rules", "GET", url, params={"api-version": RESOURCE_SET_API_VERSION})
        if not isinstance(body, dict):
            raise PurviewError("Purview resource-set rules: the answer is not a rule configuration", status=None,
                               code=None, transient=False)
        return body

    def _check_creatable(self, entities: Sequence[Mapping[str, Any]], existing: set[tuple[str, str]]) -> None:
        """Every asset this push creates carries what its type makes mandatory, or the push fails here with the
        attribute named: clearer than Purview's 404, and nothing of the run is half-written."""
        for entity in entities:
            if _is_own(entity) or _key(entity) in existing:
                continue
            given = {k for k, v in entity.get("attributes", {}).items() if v is not None} | \
                set(entity.get("relationshipAttributes") or {})
            missing = self.mandatory_attributes(str(entity["typeName"])) - given
            if missing:
                raise PurviewError(
                    f"cannot create {entity['typeName']} {entity['attributes']['qualifiedName']}: Purview's type "
                    f"definition makes {', '.join(sorted(missing))} mandatory, and the run does not tell them",
                    status=None, code="MANDATORY_ATTRIBUTE", transient=False)

    def _push(self, entities: Sequence[Mapping[str, Any]], result: PushResult,
              collection: str | None) -> PushResult:
        assets = [e for e in entities if not _is_own(e)]
        existing = self._existing(assets)
        self._check_creatable(entities, existing)
        try:
            try:
                self._upload(entities, existing, result, collection)
            except PurviewError as exc:
                if exc.code != "ATLAS-404-00-00A" or not existing:
                    raise
                # An asset we believed to exist was deleted since: what the catalog holds must be asked again.
                with self._known_lock:
                    self._known.clear()
                    self._absent.clear()
                raise CatalogChangedError(f"{exc} (an asset the catalog held was deleted since it was looked up)",
                                     status=exc.status, code=exc.code, transient=True) from exc
        except BaseException:
            # Some batches may have landed: what Purview now holds for these activities is unknown, ask next time.
            with self._known_lock:
                for entity in entities:
                    self._last_runs.pop(_key(entity), None)
            raise
        self._remember_runs(entities)
        return result

    def _latest_facts(self, entities: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The entities with each activity's facts written whole, or left out when Purview holds a later run's.

        Runs reach the writer out of order (retries, duplicated events, several workers): without this, the facts of
        an older run processed later would replace the latest run's.
        """
        activities = [_key(e) for e in entities if _is_activity(e)]
        if not activities:
            return list(entities)
        stored = self._stored_run_times(activities)
        out: list[Mapping[str, Any]] = []
        for entity in entities:
            if not _is_activity(entity):
                out.append(entity)
                continue
            attributes = dict(entity["attributes"])
            mine, theirs = attributes.get("lastRunTime"), stored.get(_key(entity), 0)
            if isinstance(mine, int) and mine < theirs:
                log.info("%s: Purview holds a later run's facts (%d > %d); sending the activity without them",
                         attributes.get("qualifiedName"), theirs, mine)
                for name in activity_facts(str(entity["typeName"])):
                    attributes.pop(name, None)
            else:
                attributes = {**dict.fromkeys(activity_facts(str(entity["typeName"]))), **attributes}
            out.append({**entity, "attributes": attributes})
        return out

    def _stored_run_times(self, activities: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Each activity's ``lastRunTime`` in Purview (0 when it has none): remembered, else one lookup per type."""
        with self._known_lock:
            found = {k: self._last_runs[k] for k in activities if k in self._last_runs}
        missing = set(activities) - set(found)
        found.update(dict.fromkeys(missing, 0))
        for key, attributes in self._lookup(missing):
            when = attributes.get("lastRunTime")
            if isinstance(when, int):
                found[key] = when
        with self._known_lock:
            for key in activities:
                self._last_runs[key] = max(found[key], self._last_runs.get(key, 0))
        return found

    def _remember_runs(self, entities: Sequence[Mapping[str, Any]]) -> None:
        with self._known_lock:
            for entity in entities:
                when = entity["attributes"].get("lastRunTime") if _is_activity(entity) else None
                if isinstance(when, int):
                    key = _key(entity)
                    self._last_runs[key] = max(when, self._last_runs.get(key, 0))
                    self._last_runs.move_to_end(key)
            while len(self._last_runs) > self._known_limit:
                self._last_runs.popitem(last=False)

    def type_definition(self, name: str) -> dict[str, Any] | None:
        """The live type definition by name; None when Purview does not know the type."""
        try:
            body = self._call("typedef", partial(self._client.get_typedef, name=name))
        except PurviewError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def _upload(self, entities: Sequence[Mapping[str, Any]], existing: set[tuple[str, str]],
                result: PushResult, collection: str | None) -> None:
        for batch in plan_batches(entities, existing, self.max_entities_per_call):
            if collection is None:  # as before collections: the endpoint's default (root) collection
                body = self._call("upload", partial(self._client.upload_entities, batch=batch))
            else:  # pyapacheatlas 0.16 sends no query string on a bulk write: collectionId needs the 2023-09-01 API
                body = self.request("upload", "POST", f"{self.endpoint}/entity/bulk", body={"entities": batch},
                                    params={"api-version": DATA_MAP_API_VERSION, "collectionId": collection})
            _count(body, result)
        self._remember_assets(_key(e) for e in entities if not _is_own(e))

    def _existing(self, assets: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
        """Which referenced assets Purview already has."""
        return self._held({_key(a) for a in assets})

    def _held(self, keys: set[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these entities Purview has: what is known costs nothing, and so does what was just found
        missing (``resolve`` and the push that follows it ask about the same assets); the rest is one lookup per
        type and chunk of qualifiedNames."""
        now = time.monotonic()
        with self._known_lock:
            held = {k for k in keys if k in self._known}
            absent = {k for k in keys - held if self._absent.get(k, -math.inf) > now - ABSENT_TTL_S}
        ask = keys - held - absent
        found = {key for key, _ in self._lookup(ask)}
        with self._known_lock:
            for key in ask - found:
                self._absent[key] = now
                self._absent.move_to_end(key)
            while len(self._absent) > self._known_limit:
                self._absent.popitem(last=False)
        self._remember_assets(found)
        return held | found

    def _lookup(self, keys: Iterable[tuple[str, str]]) -> Iterator[tuple[tuple[str, str], Mapping[str, Any]]]:
        """The stored attributes of those entities Purview has: one call per type and chunk of qualifiedNames."""
        by_type: dict[str, list[str]] = {}
        for type_name, qn in sorted(keys):
            by_type.setdefault(type_name, []).append(qn)
        for type_name, names in by_type.items():
            for start in range(0, len(names), _LOOKUP_CHUNK):
                chunk = names[start:start + _LOOKUP_CHUNK]
                body = self._call("lookup", partial(self._client.get_entity, qualifiedName=chunk,
                                                    typeName=type_name, ignoreRelationships=True, minExtInfo=True))
                entities = body.get("entities") if isinstance(body, Mapping) else None
                for entity in entities if isinstance(entities, list) else []:
                    attributes = entity.get("attributes") if isinstance(entity, Mapping) else None
                    if isinstance(attributes, Mapping) and isinstance(attributes.get("qualifiedName"), str):
                        yield (type_name, attributes["qualifiedName"]), attributes

    def _remember_assets(self, keys: Iterable[tuple[str, str]]) -> None:
        with self._known_lock:
            for key in keys:
                self._known[key] = None
                self._known.move_to_end(key)
                self._absent.pop(key, None)
            while len(self._known) > self._known_limit:
                self._known.popitem(last=False)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """Run one Purview call, retrying transient failures with backoff that honours Retry-After."""
        for attempt in range(1, self.max_attempts + 1):
            self._last.status, self._last.retry_after = None, None
            self.calls += 1
            try:
                return call()
            except _BadAnswer as exc:  # the same answer would come again: not worth a retry
                raise PurviewError(f"Purview {what}: {exc}", status=exc.status, code=None, transient=False) from None
            except AtlasException as exc:  # a BaseException: `except Exception` would miss it
                error = self._error(what, str(exc))
            except (requests.RequestException, ValueError) as exc:
                error = self._error(what, str(exc), network=isinstance(
                    exc, requests.ConnectionError | requests.Timeout))
            if not error.transient or attempt == self.max_attempts:
                raise error
            delay = self._delay(attempt)
            log.warning("Purview %s failed (%s), attempt %d of %d; retrying in %.1fs",
                        what, error, attempt, self.max_attempts, delay)
            self._sleep(delay)
        raise AssertionError("unreachable")

    def _error(self, what: str, text: str, *, network: bool = False) -> PurviewError:
        status = self._last.status
        code = message = None
        try:
            body = loads(text)
            if isinstance(body, Mapping):
                code, message = body.get("errorCode"), body.get("errorMessage")
                code = code if isinstance(code, str) else None
                message = message if isinstance(message, str) else None
        except JSONTextError:
            pass
        transient = network or status is None or status in _TRANSIENT_STATUSES
        detail = message or (text[:300] if text else "no response")
        kind = "network error" if network else f"HTTP {status}"
        return PurviewError(f"Purview {what}: {kind}{f' {code}' if code else ''}: {detail}",
                            status=status, code=code, transient=transient)

    def _delay(self, attempt: int) -> float:
        """Purview's ``Retry-After`` when it gives one (at most ``retry_after_cap_s``), else jittered backoff."""
        retry_after = retry_after_s(self._last.retry_after, self.retry_after_cap_s)
        if retry_after is not None:
            return retry_after
        backoff = min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return float(backoff * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not crypto

    def _remember(self, response: requests.Response, *_: Any, **__: Any) -> requests.Response:
        self._last.status = response.status_code
        self._last.retry_after = response.headers.get("Retry-After")
        return response


def plan_batches(entities: Sequence[Mapping[str, Any]], existing: set[tuple[str, str]],
                 max_per_call: int) -> list[list[dict[str, Any]]]:
    """Bulk payloads: our entities and the missing assets, references rewritten to placeholder guids.

    Within a call an entity created by that call is referenced by its placeholder guid; an entity that already
    exists, or was created by an earlier call of the same push, by type and qualifiedName. Each operation travels
    with the assets it creates, so no call references an entity that does not exist yet.
    """
    by_key = {_key(e): e for e in entities}
    to_send = [e for e in entities if _is_own(e) or _key(e) not in existing]
    head = [e for e in to_send if not e["typeName"].endswith("_operation") and _is_own(e)]
    operations = [e for e in to_send if e["typeName"].endswith("_operation")]
    loose_assets = {_key(e) for e in to_send if not _is_own(e)}

    groups: list[list[Mapping[str, Any]]] = [head]
    for op in operations:
        needed: list[Mapping[str, Any]] = []
        pending = [k for k in _references(op) if k in loose_assets]
        while pending:  # the assets the operation names, and the parents those are created under
            key = pending.pop()
            if key in loose_assets:
                loose_assets.discard(key)
                needed.append(by_key[key])
                pending.extend(k for k in _references(by_key[key]) if k in loose_assets)
        group = [*needed, op]
        if len(groups[-1]) + len(group) > max_per_call and groups[-1]:
            groups.append([])
        groups[-1].extend(group)
    if loose_assets:  # assets no operation references (none today, but never drop an entity silently)
        groups[-1].extend(by_key[k] for k in sorted(loose_assets))

    return [_with_placeholders(group) for group in groups if group]


def _with_placeholders(group: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    guids = {_key(e): f"-{i}" for i, e in enumerate(group, start=1)}

    def rewrite(value: Any) -> Any:
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        if isinstance(value, Mapping) and "uniqueAttributes" in value and "typeName" in value:
            key = (value["typeName"], value["uniqueAttributes"].get("qualifiedName"))
            return {"guid": guids[key], "typeName": key[0]} if key in guids else dict(value)
        return value

    payload = []
    for entity in group:
        out: dict[str, Any] = {"typeName": entity["typeName"], "guid": guids[_key(entity)]}
        out["attributes"] = {k: rewrite(v) for k, v in entity.get("attributes", {}).items()}
        if entity.get("relationshipAttributes"):
            out["relationshipAttributes"] = {k: rewrite(v) for k, v in entity["relationshipAttributes"].items()}
        payload.append(out)
    return payload


def _references(entity: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The entities an entity names by unique attribute: a process's inputs and outputs, an asset's parent."""
    attributes = entity.get("attributes", {})
    refs = [*attributes.get("inputs", []), *attributes.get("outputs", [])]
    if not _is_own(entity):
        refs.extend((entity.get("relationshipAttributes") or {}).values())
    return [(r["typeName"], r["uniqueAttributes"]["qualifiedName"]) for r in refs
            if isinstance(r, Mapping) and "uniqueAttributes" in r]


def _count(body: Any, result: PushResult) -> None:
    """Count what one bulk write changed; an answer that is not a mutation result means nothing is known to be
    written, so the push fails rather than report entities as pushed."""
    mutated = body.get("mutatedEntities") if isinstance(body, Mapping) else None
    guids = body.get("guidAssignments") if isinstance(body, Mapping) else None
    shaped = (mutated is not None or guids is not None) and \
        (mutated is None or (isinstance(mutated, Mapping) and all(isinstance(v, list) for v in mutated.values()))) \
        and (guids is None or isinstance(guids, Mapping))
    if not shaped:
        kind = "empty" if body is None else "a JSON object" if isinstance(body, Mapping) else \
            f"a JSON {type(body).__name__}"
        raise PurviewError(f"Purview upload: the answer is not a mutation result (it is {kind}, without a "
                           "well-formed mutatedEntities or guidAssignments): nothing shows the entities were written",
                           status=None, code=None, transient=False)
    result.calls += 1
    mutated = mutated or {}
    result.created += len(mutated.get("CREATE", []))
    result.updated += len(mutated.get("UPDATE", [])) + len(mutated.get("PARTIAL_UPDATE", []))
    result.guid_assignments.update(guids or {})


def _checked_body(response: requests.Response) -> Any:
    """The JSON of a 2xx answer; a redirect, an HTML page or text no JSON parser here reads is a ``_BadAnswer``."""
    status = response.status_code
    if 300 <= status < 400:
        target = urlsplit(response.headers.get("Location") or "")
        where = f"{target.scheme}://{target.netloc}" if target.netloc else "the same host"
        raise _BadAnswer(f"HTTP {status} redirect to {where} not followed (the request carries the token and the "
                         "payload): set PURVIEW_ENDPOINT to the address that answers", status)
    if status == 204 or not response.content:
        return None
    content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if "html" in content_type or response.content.lstrip()[:1] == b"<":
        raise _BadAnswer(f"HTTP {status} with an HTML page ({content_type or 'no content type'}), not Atlas JSON: "
                         "a proxy or sign-in page, or PURVIEW_ENDPOINT is not the Data Map API", status)
    try:
        return loads(response.content)
    except JSONTextError as exc:
        raise _BadAnswer(f"HTTP {status}, but the answer {exc}", status) from None


def _key(entity: Mapping[str, Any]) -> tuple[str, str]:
    return (str(entity["typeName"]), str(entity["attributes"]["qualifiedName"]))


def _asset_key(asset: Asset) -> tuple[str, str]:
    return (asset.type_name, asset.qualified_name)


def _is_own(entity: Mapping[str, Any]) -> bool:
    return str(entity["typeName"]).startswith(OWN_TYPE_PREFIXES)


def _is_activity(entity: Mapping[str, Any]) -> bool:
    type_name = str(entity["typeName"])
    return type_name.startswith("adf_") and type_name.endswith("_activity")
