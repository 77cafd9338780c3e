"""Running the Function App's real handlers the way the Functions host does, without the host.

The Functions host cannot be installed here (Core Tools downloads its binary at install time), so this module plays
its part for the two triggers: Event Grid payloads go through ``azure.functions``' own converter and the handler's
output bindings land on the queue base64-encoded; the work queue is polled with the host's semantics — dequeue
count, a visibility timeout before a retry, ``maxDequeueCount`` and the bare-body move to ``<queue>-poison``.
Messages are received a batch per service call and held under a lease the host renews while it holds them; a
process that dies loses its messages only until their lease ends. ``serve`` runs several invocations at once, as
the Python worker runs synchronous functions on a thread pool (``lineage.local.worker_process`` runs it in an OS
process of its own).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.exceptions import HttpResponseError
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.functions.queue import QueueMessage
from azure.storage.queue import QueueClient, QueueServiceClient

from lineage.azure.queues import POISON_SUFFIX, Queues
from lineage.azure.sessions import azure_transport

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
LEASE_S = 300  # how long a message stays invisible while its function runs
_LEASE_LOST = frozenset({"MessageNotFound", "PopReceiptMismatch"})


@dataclass(frozen=True, slots=True)
class HostSettings:
    """The queue extension settings of host.json that shape retries."""

    max_dequeue_count: int = 5
    visibility_timeout_s: int = 30
    batch_size: int = 16
    new_batch_threshold: int = 8  # ``serve`` fetches the next batch when no more messages than this are in hand
    lease_s: int = LEASE_S  # a message received and not finished (its process died) is seen again after this
    threads: int = 1  # invocations at once in ``serve`` (the Python worker runs sync functions on a thread pool)

    @classmethod
    def from_host_json(cls, path: Path = ROOT / "host.json") -> HostSettings:
        queues = json.loads(path.read_text())["extensions"]["queues"]
        return cls(
            max_dequeue_count=int(queues["maxDequeueCount"]),
            visibility_timeout_s=_seconds(queues["visibilityTimeout"]),
            batch_size=int(queues["batchSize"]),
            new_batch_threshold=int(queues.get("newBatchThreshold", 8)),
        )


class _Out:
    """A ``func.Out`` that keeps what the handler set."""

    def __init__(self) -> None:
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


@dataclass
class HostStats:
    invocations: int = 0
    failures: int = 0
    moved_to_poison: int = 0
    completed: int = 0
    leases_lost: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class LocalHost:
    """Delivers events to ``on_run_completed`` and drives ``push_lineage`` from the work queue."""

    def __init__(self, queues: Queues, connection_string: str, *, settings: HostSettings | None = None,
                 on_run_completed: Callable[..., None], push_lineage: Callable[[func.QueueMessage], None]) -> None:
        self.queues = queues
        self.settings = settings or HostSettings.from_host_json()
        self._on_run_completed = on_run_completed
        self._push_lineage = push_lineage
        service = QueueServiceClient.from_connection_string(
            connection_string, transport=azure_transport())
        # Raw clients: the host reads bodies as stored and decodes them itself, so an undecodable body is seen.
        self._raw_work: QueueClient = service.get_queue_client(queues.work.queue_name)
        self._raw_poison: QueueClient = service.get_queue_client(queues.work.queue_name + POISON_SUFFIX)
        self.stats = HostStats()
        self._stats_lock = threading.Lock()
        self._leases: dict[str, _Lease] = {}
        self._leases_lock = threading.Lock()
        self._keeper: threading.Thread | None = None

    def deliver(self, payload: Mapping[str, Any]) -> None:
        """One Event Grid delivery (Event Grid schema or CloudEvents 1.0), converted as the worker would."""
        event = EventGridEventInConverter.decode(Datum(type="json", value=json.dumps(payload)), trigger_metadata={})
        work = _Out()
        self._on_run_completed(event=event, work=work)
        if work.value is not None:
            self.queues.send(str(work.value))

    def poll_once(self, stop: threading.Event | None = None) -> int:
        """Receive one batch and run the function for each message in turn; returns how many were received.

        When ``stop`` is set meanwhile, the messages not started yet are handed back (visible again at once)."""
        leases = self._receive()
        for lease in leases:
            self._start(lease, stop)
        return len(leases)

    def serve(self, stop: threading.Event, idle_sleep_s: float = 0.05,
              paused: Callable[[], bool] = lambda: False) -> None:
        """Poll until ``stop`` is set, like the host's queue listener: up to ``threads`` invocations at once, the
        next batch fetched when no more than ``new_batch_threshold`` messages are in hand; messages being run are
        finished, those not started yet handed back. While ``paused()`` it fetches nothing."""
        if self.settings.threads <= 1:
            while not stop.is_set():
                if paused():
                    stop.wait(idle_sleep_s / 2)
                elif self.poll_once(stop) == 0:
                    stop.wait(idle_sleep_s)
            return
        with ThreadPoolExecutor(self.settings.threads, thread_name_prefix="invocation") as pool:
            in_hand: set[Future[None]] = set()
            while not stop.is_set():
                if len(in_hand) <= self.settings.new_batch_threshold and not paused():
                    in_hand |= {pool.submit(self._start, lease, stop) for lease in self._receive()}
                if not in_hand:
                    stop.wait(idle_sleep_s)
                    continue
                done, in_hand = wait(in_hand, timeout=idle_sleep_s, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()  # a failure of the host itself (not of the function) stops serving
            for future in in_hand:
                future.result()

    def drain(self, timeout_s: float = 120.0, idle_sleep_s: float = 0.1) -> None:
        """Poll until the work queue is empty (visible or not) or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.poll_once() == 0:
                if self.pending() == 0:
                    return
                time.sleep(idle_sleep_s)
        raise TimeoutError(f"work queue not drained within {timeout_s:.0f}s ({self.pending()} messages left)")

    def pending(self) -> int:
        return int(self._raw_work.get_queue_properties().approximate_message_count or 0)

    # ------------------------------------------------------------------------------- messages held under lease

    def _receive(self) -> list[_Lease]:
        """One batch in one service call, each message held (invisible to others) until it is settled."""
        messages = list(self._raw_work.receive_messages(
            max_messages=self.settings.batch_size, messages_per_page=self.settings.batch_size,
            visibility_timeout=self.settings.lease_s))
        now = time.monotonic()
        leases = [_Lease(message, now) for message in messages]
        with self._leases_lock:
            for lease in leases:
                self._leases[lease.message.id] = lease
            if leases and self._keeper is None:
                self._keeper = threading.Thread(target=self._keep_leases, name="lease-keeper", daemon=True)
                self._keeper.start()
        return leases

    def _keep_leases(self) -> None:
        """The host renews the lease of every message it holds (running or waiting to run) at half its length,
        so a long invocation is not handed to someone else meanwhile. Runs while any message is held."""
        half = self.settings.lease_s / 2
        while True:
            with self._leases_lock:
                held = list(self._leases.values())
                if not held:
                    self._keeper = None
                    return
            for lease in held:
                if time.monotonic() - lease.renewed_at < half:
                    continue
                with lease.lock:
                    if lease.settled:
                        continue
                    updated = self._settle(self._raw_work.update_message, lease.message.id,
                                           pop_receipt=lease.message.pop_receipt,
                                           visibility_timeout=self.settings.lease_s)
                    if updated is None:
                        lease.settled = True
                        self._release(lease)
                    else:
                        lease.message.pop_receipt = updated.pop_receipt
                        lease.renewed_at = time.monotonic()
            time.sleep(min(0.25, half / 4))

    def _release(self, lease: _Lease) -> None:
        with self._leases_lock:
            self._leases.pop(lease.message.id, None)

    def _start(self, lease: _Lease, stop: threading.Event | None) -> None:
        if stop is not None and stop.is_set():
            self._hand_back(lease, visibility_timeout=0)
            return
        self._run(lease)

    def _hand_back(self, lease: _Lease, visibility_timeout: int) -> None:
        with lease.lock:
            if not lease.settled:
                lease.settled = True
                self._settle(self._raw_work.update_message, lease.message.id, pop_receipt=lease.message.pop_receipt,
                             visibility_timeout=visibility_timeout)
        self._release(lease)

    def _delete(self, lease: _Lease) -> None:
        with lease.lock:
            if not lease.settled:
                lease.settled = True
                self._settle(self._raw_work.delete_message, lease.message.id, pop_receipt=lease.message.pop_receipt)
        self._release(lease)

    def _count(self, name: str) -> None:
        with self._stats_lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def _run(self, lease: _Lease) -> None:
        message = lease.message
        count = int(message.dequeue_count or 1)
        raw = str(message.content)
        if count > self.settings.max_dequeue_count:
            self._move_to_poison(lease, raw)
            return
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            self._move_to_poison(lease, raw)  # the host cannot decode it: poison without invoking
            return
        msg = QueueMessage(  # type: ignore[no-untyped-call]
            id=message.id, body=body, dequeue_count=count,
                           insertion_time=message.inserted_on or datetime.now(UTC),
                           expiration_time=message.expires_on, pop_receipt=message.pop_receipt)
        self._count("invocations")
        try:
            self._push_lineage(msg)
        except Exception as exc:  # noqa: BLE001 - the host catches everything a function raises, then retries
            self._count("failures")
            log.warning("push_lineage failed on attempt %d: %s: %s", count, type(exc).__name__, exc)
            if count >= self.settings.max_dequeue_count:
                self._move_to_poison(lease, raw)
            else:
                self._hand_back(lease, visibility_timeout=self.settings.visibility_timeout_s)
            return
        self._count("completed")
        self._delete(lease)

    def _move_to_poison(self, lease: _Lease, raw: str) -> None:
        """The host's move: a copy of the body as stored, nothing else."""
        self._count("moved_to_poison")
        self._raw_poison.send_message(raw)
        self._delete(lease)

    def _settle(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Delete or update a received message. Its lease may have run out and the message been received again
        (by this or another process): then the other receiver owns it, and the host logs and moves on."""
        try:
            return call(*args, **kwargs)
        except HttpResponseError as exc:
            code = getattr(exc, "error_code", None)  # set by azure-storage from the error body: an enum member
            code = str(getattr(code, "value", code))
            if code not in _LEASE_LOST:
                raise
            self._count("leases_lost")
            log.warning("queue message lease lost (%s): it is or will be processed again", code)
            return None


@dataclass(eq=False)
class _Lease:
    """A received message the host holds: its pop receipt changes with each renewal, under ``lock``."""

    message: Any
    renewed_at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    settled: bool = False


def _seconds(timespan: str) -> int:
    hours, minutes, seconds = (float(part) for part in timespan.split(":"))
    return int(hours * 3600 + minutes * 60 + seconds)
