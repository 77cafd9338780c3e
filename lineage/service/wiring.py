"""Wiring the worker from app settings: the one place that reads the environment.

``function_app.py`` stays a thin list of triggers; the local runner builds the same objects with a local credential
and local endpoints, so both run identical code below this line.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential

from lineage.azure.datafactory import DataFactoryReader
from lineage.azure.ledger import DEFAULT_TABLE, TABLE_SETTING, LedgerError, LedgerTable
from lineage.azure.purview import PurviewWriter
from lineage.azure.queues import Queues, queue_name
from lineage.extract.config import LineageOptions
from lineage.extract.redact import redact
from lineage.service.events import (
    EVENT_TYPE,
    EventError,
    WorkMessage,
    check_size,
    factory_of,
    is_reserved,
    now_iso,
    run_ref,
)
from lineage.service.ledger import RunLedger, retention_days
from lineage.service.poison import PoisonEnvelope
from lineage.service.prune import PruneReport, prune_factories
from lineage.service.reconcile import (
    FACTORIES_SETTING,
    WindowError,
    WindowReport,
    factories_from_setting,
    reconcile_factories,
    window_minutes,
)
from lineage.service.worker import Worker, WorkerSettings, WorkQueue

log = logging.getLogger(__name__)

ARM_ENDPOINT = "https://management.azure.com"
HTTP_TIMEOUT_S = 30.0  # per Data Factory or Purview call
MAX_POISONED_EVENT_CHARS = 8_000
# Hosts the service sends a bearer token to, by the suffix of their name, in the public cloud, Azure Government and
# Azure operated by 21Vianet (China). HOST_SUFFIXES_SETTING adds more (a private DNS zone, another sovereign cloud).
HOST_SUFFIXES_SETTING = "LINEAGE_ALLOWED_HOST_SUFFIXES"
# purview-service.microsoft.com: the tenant-level endpoint of accounts in the new Purview portal
PURVIEW_HOSTS = ("purview.azure.com", "purview.azure.us", "purview.azure.cn", "purview-service.microsoft.com")
ARM_HOSTS = ("management.azure.com", "management.usgovcloudapi.net", "management.chinacloudapi.cn")
EVENTGRID_HOSTS = ("eventgrid.azure.net", "eventgrid.azure.us", "eventgrid.azure.cn", "eventgrid.chinacloudapi.cn")
REFUSED_LOG_INTERVAL_S = 300.0
_HOST_SUFFIX = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")  # 2+ labels


class SettingsError(ValueError):
    """A required app setting is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an incoming event becomes: a work message, a poison envelope saying why it never can be one, or
    neither: refused (``refused`` says why), counted and summarised in the log instead of poisoned one by one."""

    work: str | None
    poison: str | None
    refused: str | None = None


class RefusedEvents:
    """Events that are not ours to process, counted; one WARNING line per interval says how many and why.

    Anyone holding the function's Event Grid key can post events. An event of another type, for a factory the
    service does not serve, or carrying an id our own producers use is not a run of ours that failed: poisoning each
    would cost a poison message and an alert per forged event, and a flood would bury the real ones. The first
    refusal after a quiet interval is logged at once (so a single misdirected event shows), the rest of the
    interval's as one summary when the next refusal arrives after it or when ``flush`` is called (the reconcile
    timer does, every pass). WARNING, not ERROR: the poison alert stays about runs and events of ours.
    """

    def __init__(self, interval_s: float = REFUSED_LOG_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self.total: Counter[str] = Counter()  # since the process started, by reason
        self._clock = clock
        self._pending: Counter[str] = Counter()
        self._examples: dict[str, str] = {}
        self._logged_at: float | None = None
        self._lock = threading.Lock()

    def add(self, reason: str, example: str) -> None:
        with self._lock:
            self.total[reason] += 1
            self._pending[reason] += 1
            self._examples.setdefault(reason, example)
            now = self._clock()
            if self._logged_at is None or now - self._logged_at >= self.interval_s:
                self._log(now)

    def flush(self) -> None:
        """Log what was counted since the last line, if anything."""
        with self._lock:
            if self._pending:
                self._log(self._clock())

    def _log(self, now: float) -> None:
        count = sum(self._pending.values())
        why = "; ".join(f"{n} {reason} (e.g. {self._examples[reason]})" for reason, n in sorted(self._pending.items()))
        log.warning("refused %d event(s) that are not this service's to process: %s. Refusals are counted and "
                    "logged at most every %d s", count, why, int(self.interval_s))
        self._pending.clear()
        self._examples.clear()
        self._logged_at = now


REFUSED = RefusedEvents()
_open_warned = threading.Event()


def accept(event: Any) -> Accepted:
    """``accept_event`` for the object the Functions host hands ``on_run_completed``: an ``EventGridEvent``
    (``event_type``) or a ``CloudEvent`` (``type``), both with ``id`` and ``get_json()``.

    A rejected event's envelope is sent from here, not through an output binding: a binding's message lives the
    queue service's default seven days, and an envelope must stay until an operator acts on it. A failed send raises,
    so that Event Grid delivers the event again."""
    event_type = getattr(event, "event_type", None)
    if event_type is None:
        event_type = getattr(event, "type", None)
    accepted = accept_event(getattr(event, "id", None), event.get_json(), event_type=_text(event_type))
    if accepted.poison is not None:
        env = os.environ
        _poison_queues(env.get("LINEAGE_QUEUE_NAME"), env.get("AzureWebJobsStorage__queueServiceUri"),
                       env.get("AzureWebJobsStorage")).send_poison(accepted.poison)
    return accepted


@lru_cache(maxsize=4)
def _poison_queues(_name: str | None, _service_uri: str | None, _connection: str | None) -> Queues:
    """The app's queues for rejected events, made once per set of settings (a burst of bad events must not fetch a
    managed-identity token each); the arguments are the settings ``connect_queues`` reads, as the cache's key."""
    return connect_queues(os.environ)


def accept_event(event_id: str | None, data: Any, *, event_type: str | None = None,
                 env: Mapping[str, str] | None = None) -> Accepted:
    """Check a run-completed event and turn it into a work message; never an exception for a bad event.

    Refused (counted, see RefusedEvents): an event of another type (when the caller says which type it is), one
    whose id is one our own producers use, and, when ``LINEAGE_FACTORIES`` lists the factories this service serves,
    one that names no factory of that list. Poisoned with its reason: an event for a served factory (or any
    factory, with the list empty) that can never be processed. What is stored and logged is redacted.
    """
    env = os.environ if env is None else env
    served = served_factories(env)
    refusal = _refusal(event_id, data, event_type, served)
    if refusal is not None:
        reason, example = refusal
        REFUSED.add(reason, example)
        return Accepted(work=None, poison=None, refused=reason)
    if served is None and not _open_warned.is_set():
        _open_warned.set()
        log.warning("%s is empty: on_run_completed accepts events for any factory this app's identity can read; "
                    "set it to the factories this service serves", FACTORIES_SETTING)
    received = now_iso()
    body = _safe_json(data)
    try:
        check_size(body)
        message = WorkMessage(run=run_ref(data), event_id=event_id, received_at=received)
    except EventError as exc:
        reason = redact(str(exc))
        envelope = PoisonEnvelope(message=redact(body[:MAX_POISONED_EVENT_CHARS]), error_class="EventError",
                                  reason=reason, attempts=1, first_seen=received, last_failure=received)
        log.error("event %s rejected: %s", redact(repr(event_id)[:100]), reason)
        return Accepted(work=None, poison=envelope.to_json())
    return Accepted(work=message.to_json(), poison=None)


def served_factories(env: Mapping[str, str]) -> frozenset[str] | None:
    """The factories whose events are accepted (lower-cased resource ids, as ARM compares them), or None for any:
    ``LINEAGE_FACTORIES``, the list ``reconcile_runs`` reads and the deployment grants the app read access on.
    A malformed value raises SettingsError: the host fails the invocation and Event Grid retries the event, which
    is kept (and dead-lettered after a day) rather than judged against a list nobody can read."""
    return _served(env.get(FACTORIES_SETTING) or "")


@lru_cache(maxsize=8)
def _served(raw: str) -> frozenset[str] | None:
    try:
        factories = factories_from_setting({FACTORIES_SETTING: raw})
    except WindowError as exc:
        raise SettingsError(str(exc)) from exc
    return frozenset(f.resource_id.lower() for f in factories) or None


def _refusal(event_id: Any, data: Any, event_type: str | None,
             served: frozenset[str] | None) -> tuple[str, str] | None:
    """(reason, example) when the event is not ours to process, else None."""
    if event_type is not None and event_type != EVENT_TYPE:
        return "of another event type", _shown(event_type)
    if is_reserved(event_id):
        return "with an id reserved for the service's own messages", _shown(event_id)
    if served is None:
        return None
    try:
        factory = factory_of(data)
    except EventError:
        return "naming no factory", _shown(data if isinstance(data, str) else _safe_json(data))
    if factory.resource_id.lower() not in served:
        return "for a factory this service does not serve", _shown(factory.resource_id)
    return None


def _shown(value: Any, limit: int = 120) -> str:
    text = redact(str(value)[:limit * 2])
    return text if len(text) <= limit else text[:limit] + "..."


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None if value is None else str(value)


def checked_endpoint(url: str, setting: str, suffixes: tuple[str, ...], env: Mapping[str, str]) -> str:
    """An endpoint the service sends a bearer token to: HTTPS, no user info, and a host that is one of Azure's for
    that service (``suffixes``, plus those of ``LINEAGE_ALLOWED_HOST_SUFFIXES``) or the loopback interface (the
    local stand-ins, which serve HTTPS with their own CA). SettingsError naming the setting otherwise: a token sent
    over plain HTTP, or to a host someone typed wrong, is a token given away."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https":
        raise SettingsError(f"{setting} must be an https:// URL (the service sends its access token there), "
                            f"got {_shown(url, 80)}")
    try:
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError as exc:
        raise SettingsError(f"{setting} is not a URL: {exc}") from exc
    if not host:
        raise SettingsError(f"{setting} names no host: {_shown(url, 80)}")
    if parts.username is not None or parts.password is not None:
        raise SettingsError(f"{setting} must not carry a user name or password")
    if _loopback(host):
        return url.strip()
    allowed = (*suffixes, *allowed_host_suffixes(env))
    if not any(host == suffix or host.endswith("." + suffix) for suffix in allowed):
        raise SettingsError(f"{setting}: {_shown(host, 80)} is not a host of this service in Azure (expected a name "
                            f"under {', '.join(allowed)}); add its suffix to {HOST_SUFFIXES_SETTING} if it is one")
    return url.strip()


def allowed_host_suffixes(env: Mapping[str, str]) -> tuple[str, ...]:
    """``LINEAGE_ALLOWED_HOST_SUFFIXES``: more host suffixes to trust (comma-separated or a JSON array), e.g.
    ``purview.contoso-sovereign.example``. A suffix must have a dot: a lone top-level domain would trust half the
    internet."""
    raw = (env.get(HOST_SUFFIXES_SETTING) or "").strip()
    if not raw:
        return ()
    try:
        items = json.loads(raw) if raw.startswith("[") else raw.split(",")
    except ValueError as exc:
        raise SettingsError(f"{HOST_SUFFIXES_SETTING} is not a JSON array: {exc}") from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise SettingsError(f"{HOST_SUFFIXES_SETTING} must list host suffixes")
    suffixes = tuple(i.strip().strip(".").lower() for i in items if i.strip())
    for suffix in suffixes:
        if not _HOST_SUFFIX.fullmatch(suffix):
            raise SettingsError(f"{HOST_SUFFIXES_SETTING}: {_shown(suffix, 80)} is not a host suffix like "
                                "purview.example.com")
    return suffixes


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def purview_endpoint(env: Mapping[str, str]) -> str:
    """``PURVIEW_ENDPOINT`` (full Atlas v2 base URL) or ``PURVIEW_ACCOUNT_NAME`` (Data Map API of that account)."""
    if env.get("PURVIEW_ENDPOINT"):
        return checked_endpoint(env["PURVIEW_ENDPOINT"], "PURVIEW_ENDPOINT", PURVIEW_HOSTS, env).rstrip("/")
    if env.get("PURVIEW_ACCOUNT_NAME"):
        url = f"https://{env['PURVIEW_ACCOUNT_NAME']}.purview.azure.com/datamap/api/atlas/v2"
        return checked_endpoint(url, "PURVIEW_ACCOUNT_NAME", PURVIEW_HOSTS, env)
    raise SettingsError("set PURVIEW_ACCOUNT_NAME (or PURVIEW_ENDPOINT) to the Purview account to write to")


def datafactory_endpoint(env: Mapping[str, str]) -> str:
    """``DATAFACTORY_ENDPOINT``: Azure Resource Manager of the factories' cloud (the public one unless set)."""
    return checked_endpoint(env.get("DATAFACTORY_ENDPOINT") or ARM_ENDPOINT, "DATAFACTORY_ENDPOINT", ARM_HOSTS,
                            env).rstrip("/")


def lineage_options(env: Mapping[str, str]) -> LineageOptions:
    raw = env.get("LINEAGE_SETTINGS")
    if not raw:
        return LineageOptions()
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"LINEAGE_SETTINGS is not JSON: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise SettingsError("LINEAGE_SETTINGS must be a JSON object (see README 'Settings')")
    return LineageOptions.from_mapping(doc)


def worker_settings(env: Mapping[str, str]) -> WorkerSettings:
    try:
        return WorkerSettings(
            max_dequeue_count=int(env.get("LINEAGE_MAX_DEQUEUE_COUNT", "5")),
            max_waits=int(env.get("LINEAGE_MAX_WAITS", "12")),
            wait_base_s=int(env.get("LINEAGE_WAIT_SECONDS", "30")),
        )
    except ValueError as exc:
        raise SettingsError(
            f"LINEAGE_MAX_DEQUEUE_COUNT, LINEAGE_MAX_WAITS and LINEAGE_WAIT_SECONDS take integers: {exc}") from exc


@contextmanager
def environment(values: Mapping[str, str], *, without: Iterable[str] = ()) -> Iterator[None]:
    """App settings in ``os.environ`` for a block (the local stack's, for the triggers and commands that read them
    there), those named in ``without`` removed; then the process's own again."""
    removed = tuple(without)
    saved = {key: os.environ.get(key) for key in (*values, *removed)}
    for key in removed:
        os.environ.pop(key, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def connect_queues(env: Mapping[str, str], credential: TokenCredential | None = None) -> Queues:
    """The Function App's own storage: by identity in Azure, by connection string against Azurite."""
    try:
        name = queue_name()
    except ValueError as exc:
        raise SettingsError(f"LINEAGE_QUEUE_NAME: {exc}") from exc
    service_uri = env.get("AzureWebJobsStorage__queueServiceUri")
    connection = env.get("AzureWebJobsStorage")
    try:
        if service_uri:
            return Queues.connect(name, account_url=service_uri, credential=credential or default_credential())
        if connection:
            return Queues.connect(name, connection_string=connection)
    except ValueError as exc:  # the SDK's message names no secret: "Connection string is ... malformed"
        setting = "AzureWebJobsStorage__queueServiceUri" if service_uri else "AzureWebJobsStorage"
        raise SettingsError(f"{setting}: {exc}") from exc
    raise SettingsError("set AzureWebJobsStorage__queueServiceUri (identity) or AzureWebJobsStorage (local)")


def build_reader(credential: TokenCredential, env: Mapping[str, str], *,
                 http_timeout_s: float = HTTP_TIMEOUT_S) -> DataFactoryReader:
    """The Data Factory client of ``DATAFACTORY_ENDPOINT`` (Azure Resource Manager unless set)."""
    return DataFactoryReader(credential, base_url=datafactory_endpoint(env), timeout_s=http_timeout_s)


def connect_ledger(env: Mapping[str, str], credential: TokenCredential | None = None) -> RunLedger | None:
    """The run ledger's table in the app's own storage account, beside the queues: by identity in Azure
    (``AzureWebJobsStorage__tableServiceUri``, else the queue service's URI with ``.table.`` for ``.queue.``), by
    connection string against Azurite (the table is created there if missing; in Azure the deployment declares it).
    None when no storage is configured at all (``push`` from a machine with only Data Factory and Purview set)."""
    name = env.get("LINEAGE_LEDGER_TABLE") or DEFAULT_TABLE  # TABLE_SETTING, spelled out for tests/test_infra.py
    table_uri = env.get("AzureWebJobsStorage__tableServiceUri")
    queue_uri = env.get("AzureWebJobsStorage__queueServiceUri")
    if not table_uri and queue_uri and ".queue." in queue_uri:
        table_uri = queue_uri.replace(".queue.", ".table.", 1)
    connection = env.get("AzureWebJobsStorage")
    try:
        retention = timedelta(days=retention_days(env))
        if table_uri:
            table = LedgerTable.connect(name, account_url=table_uri, credential=credential or default_credential())
        elif connection:
            table = LedgerTable.connect(name, connection_string=connection)
            table.create()
        else:
            return None
    except ValueError as exc:  # the SDK's message names no secret
        raise SettingsError(f"the run ledger ({TABLE_SETTING}, AzureWebJobsStorage): {exc}") from exc
    except LedgerError as exc:
        raise SettingsError(str(exc)) from exc
    return RunLedger(table, retention)


def build_worker(credential: TokenCredential, env: Mapping[str, str], *, queues: WorkQueue | None = None,
                 http_timeout_s: float = HTTP_TIMEOUT_S) -> Worker:
    """A worker with every part built from settings; ``credential`` is DefaultAzureCredential in Azure."""
    writer = PurviewWriter(credential, purview_endpoint(env), timeout_s=http_timeout_s)
    return Worker(build_reader(credential, env, http_timeout_s=http_timeout_s), writer,
                  queues or connect_queues(env, credential), lineage_options(env), worker_settings(env),
                  ledger=connect_ledger(env, credential))


def reconcile(env: Mapping[str, str] | None = None, *, past_due: bool = False) -> WindowReport:
    """The ``reconcile_runs`` pass: queue every run of the configured factories that ended since the pass's
    checkpoint in the run ledger (the last window queued completely), and is not settled there already.

    A factory that could not be read fails the pass (after the others were done), so the failure shows in the
    Functions host's logs and alerts instead of passing silently; its checkpoint stays, so the next pass covers
    its gap too.
    """
    env = os.environ if env is None else env
    REFUSED.flush()  # the refused events counted since the last line, at least once per pass
    try:
        factories = factories_from_setting(env)
        minutes = window_minutes(env)
    except WindowError as exc:
        raise SettingsError(str(exc)) from exc
    if not factories:
        log.warning("reconcile_runs: LINEAGE_FACTORIES is empty, nothing to reconcile")
        return WindowReport()
    active = worker()
    if past_due and active.ledger is None:
        log.warning("reconcile_runs is late: runs that ended before its window and whose events were lost are "
                    "not queued; run `python -m lineage backfill` over the gap")
    report = reconcile_factories(active.reader, active.queue.send, factories, minutes, active.ledger)
    log.info("reconcile_runs: %s", report.to_json())
    if active.ledger is not None:
        active.ledger.sweep()  # at most once a day: rows past the retention
    if report.failures:
        raise ReconcileError("; ".join(f"{name}: {why}" for name, why in sorted(report.failures.items())))
    return report


class ReconcileError(RuntimeError):
    """Some factories could not be reconciled; the runs of the others were queued."""


PRUNE_MODES = ("off", "dry-run", "apply")


def prune_mode(env: Mapping[str, str]) -> str:
    """``LINEAGE_PRUNE``: what the ``prune_lineage`` timer does; off unless set, since it deletes."""
    mode = (env.get("LINEAGE_PRUNE") or "off").strip().lower()
    if mode not in PRUNE_MODES:
        raise SettingsError(f"LINEAGE_PRUNE must be one of {', '.join(PRUNE_MODES)}, not {mode[:40]!r}")
    return mode


def prune(env: Mapping[str, str] | None = None) -> list[PruneReport]:
    """The ``prune_lineage`` pass over the factories of ``LINEAGE_FACTORIES`` (``python -m lineage prune`` by
    timer): nothing when ``LINEAGE_PRUNE`` is off, a logged dry run, or removal."""
    env = os.environ if env is None else env
    mode = prune_mode(env)
    if mode == "off":
        log.info("prune_lineage: LINEAGE_PRUNE is off; nothing compared, nothing removed")
        return []
    try:
        factories = factories_from_setting(env)
    except WindowError as exc:
        raise SettingsError(str(exc)) from exc
    active = worker()
    return prune_factories(active.reader, active.writer, factories, active.options, apply=mode == "apply")


def default_credential() -> TokenCredential:
    """Managed identity in Azure (a user-assigned one by ``AZURE_CLIENT_ID``), developer sign-in elsewhere."""
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - heavy; only the Function App needs it

    return DefaultAzureCredential(managed_identity_client_id=os.environ.get("AZURE_CLIENT_ID"))


def _safe_json(data: Any) -> str:
    try:
        return json.dumps(data, default=str)
    except (TypeError, ValueError, RecursionError):
        return repr(data)


_worker: Worker | None = None
_worker_lock = threading.Lock()


def install_worker(instance: Worker | None) -> None:
    """Use this worker for the process (the local runner's, built on local endpoints); None: build from settings."""
    global _worker  # noqa: PLW0603 - the process-wide worker
    _worker = instance


def worker() -> Worker:
    """The process-wide worker (its caches of definitions and known assets live as long as the process)."""
    global _worker  # noqa: PLW0603 - one worker per Functions process, built on first use
    if _worker is None:
        with _worker_lock:  # invocations run on a thread pool: build it once, whichever comes first
            if _worker is None:
                _worker = build_worker(default_credential(), os.environ)
    return _worker
