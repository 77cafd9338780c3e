"""The work queue and its poison queue in Azure Storage (Azurite locally).

Messages are base64-encoded because host.json keeps the queue extension's default ``messageEncoding: base64``:
a producer that wrote plain text would see its messages moved to poison by the host without the function ever
running (field notes §7). Every producer goes through this module, so they all encode the same way.

Every message sent here lives until it is received and deleted (``time_to_live=-1``): the queue service's default is
seven days, after which a poison envelope, a run waiting to end or a queued reconcile pass would vanish without a
trace.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from azure.core.credentials import TokenCredential
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    QueueClient,
    QueueServiceClient,
    StorageErrorCode,
    TextBase64EncodePolicy,
)

DEFAULT_QUEUE = "adf-lineage-runs"
QUEUE_SETTING = "LINEAGE_QUEUE_NAME"
POISON_SUFFIX = "-poison"
NO_EXPIRY = -1  # time_to_live: the message stays until someone deletes it


def queue_name() -> str:
    """The work queue's name (app setting ``LINEAGE_QUEUE_NAME``), validated like Azure Storage does."""
    name = os.environ.get(QUEUE_SETTING, DEFAULT_QUEUE)
    check_queue_name(name)
    return name


def check_queue_name(name: str) -> None:
    """Storage queue names: 3-63 lower-case letters, digits and single dashes; ours also leaves room for -poison."""
    limit = 63 - len(POISON_SUFFIX)
    ok = 3 <= len(name) <= limit and name[0].isalnum() and name[-1].isalnum() and "--" not in name and all(
        c.islower() or c.isdigit() or c == "-" for c in name)
    if not ok:
        raise ValueError(f"queue name {name!r} must be 3-{limit} lower-case letters, digits and single dashes, "
                         "starting and ending with a letter or digit")


@dataclass(frozen=True)
class Queues:
    """The work queue and its poison queue, both base64 on the wire."""

    work: QueueClient
    poison: QueueClient

    @classmethod
    def connect(cls, name: str, *, connection_string: str | None = None, account_url: str | None = None,
                credential: TokenCredential | None = None) -> Queues:
        """Connect by identity (``account_url`` + credential, in Azure) or by connection string (Azurite)."""
        if connection_string:
            service = QueueServiceClient.from_connection_string(connection_string)
        elif account_url and credential is not None:
            service = QueueServiceClient(account_url, credential=credential)
        else:
            raise ValueError("queue storage needs a connection string (local) or an account URL and a credential")
        poison = service.get_queue_client(name + POISON_SUFFIX, message_encode_policy=TextBase64EncodePolicy())
        return cls(_client(service, name), poison)

    def create(self) -> None:
        """Create both queues if missing (the deployment declares them; this serves local runs)."""
        for client in (self.work, self.poison):
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()

    def send(self, text: str, visibility_timeout: int = 0) -> None:
        """A work message that never expires: a run waiting to end (re-sent with a delay of up to ten minutes, many
        times over) or a reconciled run must still be there when its turn comes."""
        self.work.send_message(text, visibility_timeout=visibility_timeout or None, time_to_live=NO_EXPIRY)

    def send_poison(self, text: str) -> PoisonReceipt:
        """A poison envelope that never expires: it stays until an operator replays or purges it. The receipt
        tells later whether it is still there."""
        sent = self.poison.send_message(text, time_to_live=NO_EXPIRY)
        return PoisonReceipt(self.poison, str(sent.id), str(sent.pop_receipt))

    def poison_receipt(self, message_id: str, pop_receipt: str) -> PoisonReceipt:
        """The receipt of an envelope sent earlier, perhaps by another process (the run ledger keeps both)."""
        return PoisonReceipt(self.poison, message_id, pop_receipt)


class PoisonReceipt:
    """One envelope this process wrote to the poison queue, and one call to ask whether it is still there.

    Storage has no look-up of a message by id, and a peek shows only the first 32 messages; but updating a message
    needs its id and a pop receipt, and answers ``MessageNotFound`` once it was deleted (replayed, purged). Updating
    with visibility 0 changes nothing on a visible message; should someone have received it since (a replay or a
    purge under way), our receipt is stale and the service answers ``PopReceiptMismatch``: the message still exists.
    """

    __slots__ = ("_client", "message_id", "pop_receipt")

    def __init__(self, client: QueueClient, message_id: str, pop_receipt: str) -> None:
        self._client = client
        self.message_id = message_id
        self.pop_receipt = pop_receipt

    def still_queued(self) -> bool:
        try:
            updated = self._client.update_message(self.message_id, pop_receipt=self.pop_receipt,
                                                  visibility_timeout=0)
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            if getattr(exc, "error_code", None) == StorageErrorCode.POP_RECEIPT_MISMATCH:
                return True
            raise
        if updated.pop_receipt:
            self.pop_receipt = str(updated.pop_receipt)
        return True


def _client(service: QueueServiceClient, name: str) -> QueueClient:
    """A client that encodes and decodes base64. The poison queue's client decodes nothing: the host may have
    moved a body there that is not base64 at all, and ``lineage.service.poison.read_poison`` sorts that out."""
    return service.get_queue_client(
        name, message_encode_policy=TextBase64EncodePolicy(), message_decode_policy=BinaryBase64DecodePolicy())
