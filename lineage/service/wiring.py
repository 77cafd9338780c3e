"""Wiring the worker from app settings: the one place that reads the environment.

``function_app.py`` stays a thin list of triggers; the local runner builds the same objects with a local credential
and local endpoints, so both run identical code below this line.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential

from lineage.azure.datafactory import DataFactoryReader
from lineage.azure.purview import PurviewWriter
from lineage.azure.queues import Queues, queue_name
from lineage.extract.config import LineageOptions
from lineage.service.events import EventError, WorkMessage, check_size, now_iso, run_ref
from lineage.service.poison import PoisonEnvelope
from lineage.service.reconcile import (
    Window,
    WindowError,
    WindowReport,
    enqueue_window,
    factories_from_setting,
    window_minutes,
)
from lineage.service.worker import Worker, WorkerSettings, WorkQueue

log = logging.getLogger(__name__)

ARM_ENDPOINT = "https://management.azure.com"
HTTP_TIMEOUT_S = 30.0  # per Data Factory or Purview call


class SettingsError(ValueError):
    """A required app setting is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an incoming event becomes: a work message, or a poison envelope saying why it never can."""

    work: str | None
    poison: str | None


def accept_event(event_id: str | None, data: Any) -> Accepted:
    """Validate a run-completed event's ``data``; a bad event becomes poison, never an exception."""
    received = now_iso()
    body = _safe_json(data)
    try:
        check_size(body)
        message = WorkMessage(run=run_ref(data), event_id=event_id, received_at=received)
    except EventError as exc:
        envelope = PoisonEnvelope(message=body[:8_000], error_class="EventError", reason=str(exc), attempts=1,
                                  first_seen=received, last_failure=received)
        log.error("event %r rejected: %s", str(event_id)[:100], exc)
        return Accepted(work=None, poison=envelope.to_json())
    return Accepted(work=message.to_json(), poison=None)


def purview_endpoint(env: Mapping[str, str]) -> str:
    """``PURVIEW_ENDPOINT`` (full Atlas v2 base URL) or ``PURVIEW_ACCOUNT_NAME`` (Data Map API of that account)."""
    if env.get("PURVIEW_ENDPOINT"):
        return env["PURVIEW_ENDPOINT"].rstrip("/")
    if env.get("PURVIEW_ACCOUNT_NAME"):
        return f"https://{env['PURVIEW_ACCOUNT_NAME']}.purview.azure.com/datamap/api/atlas/v2"
    raise SettingsError("set PURVIEW_ACCOUNT_NAME (or PURVIEW_ENDPOINT) to the Purview account to write to")


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
    return DataFactoryReader(credential, base_url=env.get("DATAFACTORY_ENDPOINT") or ARM_ENDPOINT,
                             timeout_s=http_timeout_s)


def build_worker(credential: TokenCredential, env: Mapping[str, str], *, queues: WorkQueue | None = None,
                 http_timeout_s: float = HTTP_TIMEOUT_S) -> Worker:
    """A worker with every part built from settings; ``credential`` is DefaultAzureCredential in Azure."""
    writer = PurviewWriter(credential, purview_endpoint(env), timeout_s=http_timeout_s)
    return Worker(build_reader(credential, env, http_timeout_s=http_timeout_s), writer,
                  queues or connect_queues(env, credential), lineage_options(env), worker_settings(env))


def reconcile(env: Mapping[str, str] | None = None, *, past_due: bool = False) -> WindowReport:
    """The ``reconcile_runs`` pass: queue every run of the configured factories that ended in the last window.

    A factory that could not be read fails the pass (after the others were done), so the failure shows in the
    Functions host's logs and alerts instead of passing silently.
    """
    env = os.environ if env is None else env
    if past_due:
        log.warning("reconcile_runs is late: runs that ended before its window and whose events were lost are "
                    "not queued; run `python -m lineage backfill` over the gap")
    try:
        factories = factories_from_setting(env)
        window = Window.last(window_minutes(env))
    except WindowError as exc:
        raise SettingsError(str(exc)) from exc
    if not factories:
        log.warning("reconcile_runs: LINEAGE_FACTORIES is empty, nothing to reconcile")
        return WindowReport()
    active = worker()
    report = enqueue_window(active.reader, active.queue.send, factories, window)
    log.info("reconcile_runs %s..%s: %s", window.after.isoformat(), window.before.isoformat(), report.to_json())
    if report.failures:
        raise ReconcileError("; ".join(f"{name}: {why}" for name, why in sorted(report.failures.items())))
    return report


class ReconcileError(RuntimeError):
    """Some factories could not be reconciled; the runs of the others were queued."""


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
