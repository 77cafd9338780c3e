"""The run ledger's table in Azure Table storage (Azurite's table service locally): rows by key, ETags, nothing more.

What a row means, and how it changes, is the service's business (``lineage.service.ledger``); this module only
stores rows under the conditions it is given. Every write is conditional: an insert fails when the row exists, a
replace when someone changed it since it was read (its ETag), so two workers can never overwrite each other's
news. A failure of the table service itself is a ``LedgerError``, transient like a Data Factory 503: the message
that needed the row is retried, never lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from azure.core import MatchConditions
from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, TableServiceClient, TableTransactionError, UpdateMode

from lineage.azure.sessions import azure_transport
from lineage.extract.runrecord import FactoryId

DEFAULT_TABLE = "lineageruns"
TABLE_SETTING = "LINEAGE_LEDGER_TABLE"
RETRIES = 2  # per call, within the SDK
BATCH_LIMIT = 100  # operations per table transaction (all in one partition)
CHECKPOINTS = "reconcile"  # the partition of the reconcile timer's checkpoints; no factory's key looks like it


class LedgerError(Exception):
    """The table could not be read or written. Transient: the work that needed it is tried again later."""

    transient = True


class LedgerConflict(Exception):  # noqa: N818 - not an error: the caller reads the row again and retries
    """The row changed (or appeared) since it was read: read it again and decide again."""


@dataclass(frozen=True, slots=True)
class Stored:
    """A row as read, with the ETag a conditional write must match."""

    entity: dict[str, Any]
    etag: str


def partition_key(factory: FactoryId) -> str:
    """One partition per factory: its resource id's three names, lower-cased as ARM compares them. Their
    characters (letters, digits, ``._()-``) are all allowed in a key, and ``:`` appears in none of them."""
    return f"{factory.subscription_id}:{factory.resource_group}:{factory.factory_name}".lower()


def check_table_name(name: str) -> None:
    """Table names: 3-63 letters and digits, starting with a letter (``tables`` is reserved)."""
    if not (3 <= len(name) <= 63 and name.isascii() and name.isalnum() and name[0].isalpha()) \
            or name.lower() == "tables":
        raise ValueError(f"table name {name!r} must be 3-63 letters and digits, starting with a letter")


class LedgerTable:
    """One table: get, conditional insert and replace, queries, and batched deletes within a partition."""

    def __init__(self, client: TableClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, name: str, *, connection_string: str | None = None, account_url: str | None = None,
                credential: TokenCredential | None = None) -> LedgerTable:
        """By identity (``account_url`` + credential, in Azure) or by connection string (Azurite)."""
        check_table_name(name)
        # Our session (the environment read once, not per call) and few retries: a table that stays down is the
        # work message's retry to wait out, not a worker held in back-off for minutes.
        options = {"transport": azure_transport(), "retry_total": RETRIES}
        if connection_string:
            service = TableServiceClient.from_connection_string(connection_string, **options)
        elif account_url and credential is not None:
            service = TableServiceClient(account_url, credential=credential, **options)
        else:
            raise ValueError("table storage needs a connection string (local) or an account URL and a credential")
        return cls(service.get_table_client(name))

    @property
    def name(self) -> str:
        return str(self.client.table_name)

    def create(self) -> None:
        """Create the table if missing (the deployment declares it; this serves local runs and tests)."""
        with _failures("create the table"), contextlib.suppress(ResourceExistsError):
            self.client.create_table()

    def get(self, partition: str, row: str) -> Stored | None:
        try:
            with _failures("read a row"):
                entity = self.client.get_entity(partition, row)
        except LedgerError as exc:
            if isinstance(exc.__cause__, ResourceNotFoundError):
                return None
            raise
        return Stored(dict(entity), str(entity.metadata["etag"]))

    def insert(self, entity: Mapping[str, Any]) -> str:
        """Add a row that must not exist yet; LedgerConflict when it does. Returns its ETag."""
        try:
            with _failures("add a row"):
                answer = self.client.create_entity(dict(entity), response_preference="return-no-content")
        except LedgerError as exc:
            if isinstance(exc.__cause__, ResourceExistsError):
                raise LedgerConflict(str(entity.get("RowKey"))) from None
            raise
        return str(answer.get("etag", ""))

    def replace(self, entity: Mapping[str, Any], etag: str) -> str:
        """Replace a row only if it is still as read (its ETag); LedgerConflict otherwise. Returns the new ETag."""
        try:
            with _failures("update a row"):
                answer = self.client.update_entity(dict(entity), mode=UpdateMode.REPLACE, etag=etag,
                                                   match_condition=MatchConditions.IfNotModified)
        except LedgerError as exc:
            if isinstance(exc.__cause__, (ResourceModifiedError, ResourceNotFoundError)):
                raise LedgerConflict(str(entity.get("RowKey"))) from None
            raise
        return str(answer.get("etag", ""))

    def upsert(self, entity: Mapping[str, Any]) -> None:
        """Write a row whatever it held (a checkpoint, which only ever moves forward under one writer)."""
        with _failures("write a row"):
            self.client.upsert_entity(dict(entity), mode=UpdateMode.REPLACE)

    def query(self, query_filter: str, parameters: Mapping[str, Any] | None = None,
              select: Sequence[str] | None = None) -> Iterator[Stored]:
        """Rows matching an OData filter, each with its ETag, all pages (parameters are bound by the SDK, never
        pasted in)."""
        with _failures("query rows"):
            pages = self.client.query_entities(query_filter, parameters=dict(parameters or {}),
                                               select=list(select) if select else None)
            for entity in pages:
                yield Stored(dict(entity), str(entity.metadata.get("etag") or ""))

    def delete_rows(self, rows: Sequence[Stored]) -> int:
        """Delete rows as read: each only if unchanged since (its ETag), in transactions of up to 100 per
        partition. A row changed meanwhile (a run heard of again) is kept. Returns how many this call deleted."""
        by_partition: dict[str, list[Stored]] = {}
        for row in rows:
            by_partition.setdefault(str(row.entity["PartitionKey"]), []).append(row)
        deleted = 0
        for stored in by_partition.values():
            for start in range(0, len(stored), BATCH_LIMIT):
                chunk = stored[start:start + BATCH_LIMIT]
                try:
                    with _failures("delete rows"):
                        self.client.submit_transaction([("delete", _key(row), _unchanged(row)) for row in chunk])
                except LedgerError as exc:
                    if not isinstance(exc.__cause__, TableTransactionError):
                        raise
                    deleted += self._delete_one_by_one(chunk)  # a row changed or went meanwhile
                    continue
                deleted += len(chunk)
        return deleted

    def _delete_one_by_one(self, rows: Sequence[Stored]) -> int:
        """Each row only if unchanged (412 otherwise: kept); counted only where this call deleted it (the service
        answers 204; a row already gone answers 404, which the SDK does not raise)."""
        deleted = 0
        for row in rows:
            answers: list[int] = []
            try:
                with _failures("delete a row"):
                    self.client.delete_entity(_key(row), **_unchanged(row),
                                              raw_response_hook=partial(_status_into, answers))
            except LedgerError as exc:
                if isinstance(exc.__cause__, ResourceModifiedError) or getattr(exc.__cause__, "status_code",
                                                                                None) == 412:
                    continue  # changed since it was read: kept
                raise
            deleted += answers[-1:] == [204]
        return deleted


def _status_into(answers: list[int], response: Any) -> None:
    answers.append(response.http_response.status_code)


def _key(row: Stored) -> dict[str, Any]:
    return {"PartitionKey": row.entity["PartitionKey"], "RowKey": row.entity["RowKey"]}


def _unchanged(row: Stored) -> dict[str, Any]:
    """The condition of a delete: the row as read, where its ETag is known."""
    return {"etag": row.etag, "match_condition": MatchConditions.IfNotModified} if row.etag else {}


@contextlib.contextmanager
def _failures(what: str) -> Iterator[None]:
    """Any failure of the table service as a LedgerError naming what was tried (the SDK's message names no key)."""
    try:
        yield
    except AzureError as exc:
        raise LedgerError(f"the run ledger could not {what}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}"[:400]) from exc
