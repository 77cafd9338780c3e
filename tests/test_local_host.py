"""The local Functions host's queue semantics that the fault suite leans on: leases kept while an invocation runs,
several invocations at once, and a clean stop that hands back what was not started."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import LocalStack, load_records, local_stack
from lineage.service.worker import Outcome
from tests.conftest import SAMPLES

pytestmark = pytest.mark.integration
LEASE_S = 2


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    settings = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=16, lease_s=LEASE_S, threads=2)
    with local_stack(SAMPLES, host_settings=settings, azurite=azurite, queue_name="local-host") as running:
        yield running


@pytest.fixture(autouse=True)
def clean(stack: LocalStack) -> None:
    stack.reset()
    stack.host.stats.invocations = stack.host.stats.leases_lost = 0


def serve_until(stack: LocalStack, done: Any, timeout_s: float = 60) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stack.host.serve, args=(stop,), kwargs={"idle_sleep_s": 0.05})
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not done() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert done()


def test_an_invocation_longer_than_its_lease_keeps_its_message(stack: LocalStack) -> None:
    record = json.loads((SAMPLES / "copy_blob_to_sql.json").read_text())
    # Purview applies the write at once and answers after 3 s: the invocation outlives the 2 s lease.
    stack.purview.inject(status=0, respond_after_s=LEASE_S + 1, path_contains="/entity/bulk", method="POST")
    stack.send_completed(record)
    serve_until(stack, lambda: stack.worker.outcomes[Outcome.PUSHED] >= 1 and stack.host.pending() == 0)
    time.sleep(LEASE_S)  # had the lease lapsed, the other thread would have run the message again by now
    assert stack.host.stats.invocations == 1
    assert stack.host.stats.leases_lost == 0


def test_several_invocations_at_once_process_every_run_once(stack: LocalStack) -> None:
    records = load_records(SAMPLES)
    for record in records:
        stack.send_completed(record)
    serve_until(stack, lambda: sum(stack.worker.outcomes.values()) == len(records) and stack.host.pending() == 0)
    assert stack.host.stats.invocations == len(records)
    assert stack.worker.outcomes[Outcome.PUSHED] + stack.worker.outcomes[Outcome.SKIPPED] == len(records)


def test_a_stopped_host_hands_back_the_messages_it_did_not_start(stack: LocalStack) -> None:
    records = load_records(SAMPLES)
    for record in records:
        stack.send_completed(record)
    stop = threading.Event()
    stack.worker.listeners.append(lambda _: stop.set())  # stop as soon as the first message is done
    try:
        assert stack.host.poll_once(stop) == len(records)
    finally:
        stack.worker.listeners.clear()
    assert sum(stack.worker.outcomes.values()) == 1
    # the rest are visible again at once, not after the lease
    visible = stack.queues.work.peek_messages(max_messages=32)
    assert len(visible) == len(records) - 1


def test_run_local_names_a_malformed_record_and_goes_on_with_the_others(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lineage.local.__main__ import main as run_local

    (tmp_path / "a_good.json").write_text((SAMPLES / "copy_blob_to_sql.json").read_text())
    (tmp_path / "b_truncated.json").write_text('{"factory": "/subscriptions/x", "pipelineRun": {')
    (tmp_path / "c_not_a_record.json").write_text('{"factory": 5}')
    assert run_local(["--runs", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "skipped b_truncated.json:" in captured.err and "skipped c_not_a_record.json:" in captured.err
    assert "1 pushed" in captured.out
