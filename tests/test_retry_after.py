"""``Retry-After``, as both clients honour it: a throttled call waits what the service asks (in seconds, as an HTTP
date, or for Data Factory in milliseconds), at most the cap, and otherwise backs off on its own.

The Purview writer's waits are read from its ``sleep``; the Data Factory reader's (azure-core's retry policy sleeps
itself) from the clock: its first retry has no backoff of its own, so a second spent is the header's.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.azure.purview import PurviewWriter
from lineage.extract.runrecord import FactoryId
from lineage.local.adf_server import AdfServer
from lineage.local.credential import LocalCredential
from lineage.local.purview_server import PurviewServer
from lineage.local.tls import LocalTLS
from tests.conftest import SAMPLES

RECORD = json.loads((SAMPLES / "copy_blob_to_sql.json").read_text())
RUN_ID = RECORD["pipelineRun"]["runId"]
TYPEDEF = "/types/typedef/name/"
RUN_GET = f"pipelineruns/{RUN_ID}"


@pytest.fixture(scope="module")
def purview(tls: LocalTLS) -> Iterator[PurviewServer]:
    with PurviewServer(tls=tls) as server:
        yield server


@pytest.fixture(scope="module")
def adf(tls: LocalTLS) -> Iterator[AdfServer]:
    with AdfServer(SAMPLES, tls) as server:
        yield server


@pytest.fixture(autouse=True)
def clean(purview: PurviewServer, adf: AdfServer) -> None:
    purview.clear_faults()
    adf.clear_faults()


def http_date(after_s: float) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=after_s), usegmt=True)


def writer(purview: PurviewServer, slept: list[float], **options: Any) -> PurviewWriter:
    return PurviewWriter(LocalCredential(), f"{purview.url}/datamap/api/atlas/v2", sleep=slept.append, **options)


# --- Purview ----------------------------------------------------------------------------------------------------------

def test_purview_throttling_waits_the_seconds_it_asks_for(purview: PurviewServer) -> None:
    slept: list[float] = []
    purview.inject(status=429, retry_after=3, times=2, path_contains=TYPEDEF)
    assert writer(purview, slept).type_definition("adf_copy_activity") is not None
    assert slept == [3.0, 3.0]  # not the writer's own backoff (under a second, then under two)


def test_purview_throttling_waits_until_the_date_it_names(purview: PurviewServer) -> None:
    slept: list[float] = []
    purview.inject(status=503, times=1, path_contains=TYPEDEF, headers={"Retry-After": http_date(20)})
    writer(purview, slept).type_definition("adf_copy_activity")
    [wait] = slept
    assert 15 < wait <= 20


def test_purview_throttling_waits_no_longer_than_the_cap(purview: PurviewServer) -> None:
    slept: list[float] = []
    purview.inject(status=429, retry_after=86_400, times=1, path_contains=TYPEDEF)
    purview.inject(status=429, times=1, path_contains=TYPEDEF, headers={"Retry-After": http_date(86_400)})
    writer(purview, slept, retry_after_cap_s=45.0).type_definition("adf_copy_activity")
    assert slept == [45.0, 45.0]


def test_purview_without_a_readable_retry_after_gets_the_writers_backoff(purview: PurviewServer) -> None:
    slept: list[float] = []
    purview.inject(status=503, times=1, path_contains=TYPEDEF)  # no header
    purview.inject(status=429, times=1, path_contains=TYPEDEF, headers={"Retry-After": "soon"})
    purview.inject(status=429, times=1, path_contains=TYPEDEF, headers={"Retry-After": "9" * 100})
    writer(purview, slept, backoff_base_s=2.0).type_definition("adf_copy_activity")
    assert 1.0 <= slept[0] <= 2.0 and 2.0 <= slept[1] <= 4.0 and 4.0 <= slept[2] <= 8.0  # jittered, doubling


# --- Data Factory -----------------------------------------------------------------------------------------------------

def reader(adf: AdfServer, **options: Any) -> DataFactoryReader:
    return DataFactoryReader(LocalCredential(), base_url=adf.url, retry_total=2, retry_backoff_s=0.01, **options)


def timed_run_get(adf: AdfServer, **options: Any) -> float:
    started = time.monotonic()
    run = reader(adf, **options).pipeline_run(FactoryId.parse(RECORD["factory"]), RUN_ID)
    assert run["runId"] == RUN_ID
    return time.monotonic() - started


def test_data_factory_throttling_waits_the_seconds_it_asks_for(adf: AdfServer) -> None:
    adf.inject(status=429, retry_after=1, times=1, path_contains=RUN_GET, method="GET")
    assert timed_run_get(adf) >= 0.9
    adf.inject(status=429, times=1, path_contains=RUN_GET, method="GET")  # no header: azure-core's own backoff
    assert timed_run_get(adf) < 0.9


def test_data_factory_throttling_waits_the_milliseconds_it_asks_for(adf: AdfServer) -> None:
    adf.inject(status=503, times=1, path_contains=RUN_GET, method="GET", headers={"retry-after-ms": "1200"})
    assert timed_run_get(adf) >= 1.1


def test_data_factory_throttling_waits_until_the_date_it_names(adf: AdfServer) -> None:
    adf.inject(status=503, times=1, path_contains=RUN_GET, method="GET", headers={"Retry-After": http_date(3)})
    assert timed_run_get(adf) >= 1.5  # the date has whole seconds: two to three of them


def test_data_factory_throttling_waits_no_longer_than_the_cap(adf: AdfServer) -> None:
    adf.inject(status=429, retry_after=86_400, times=1, path_contains=RUN_GET, method="GET")
    assert 0.4 <= timed_run_get(adf, retry_after_cap_s=0.5) < 10


def test_data_factory_throttling_that_outlasts_the_retries_is_transient(adf: AdfServer) -> None:
    adf.inject(status=429, retry_after=0, times=3, path_contains=RUN_GET, method="GET")
    with pytest.raises(DataFactoryError) as failure:
        reader(adf).pipeline_run(FactoryId.parse(RECORD["factory"]), RUN_ID)
    assert failure.value.transient and failure.value.status == 429
