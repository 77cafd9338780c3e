"""The worker's ``WorkQueue`` seam held in memory, for tests that read each put-back delay and envelope exactly."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from lineage.service.poison import PoisonEnvelope, read_poison


@dataclass
class Sent:
    text: str
    visibility_timeout: int


@dataclass
class Envelope:
    """A handle on one envelope in the memory queue; asking costs a call, counted."""

    queue: MemoryQueue
    message_id: str
    pop_receipt: str = "receipt"

    def still_queued(self) -> bool:
        self.queue.asked += 1
        if self.queue.unreachable is not None:
            raise self.queue.unreachable
        return int(self.message_id) in self.queue.poison


@dataclass
class MemoryQueue:
    """The worker's ``WorkQueue``: what it puts back (with the delay) and what it poisons, in memory. ``broken`` is
    raised by ``send``, ``poison_broken`` by ``send_poison`` and ``unreachable`` by ``still_queued``, as Azure Storage
    raises when it cannot be reached."""

    sent: list[Sent] = field(default_factory=list)
    poison: dict[int, str] = field(default_factory=dict)
    asked: int = 0
    broken: Exception | None = None
    unreachable: Exception | None = None
    poison_broken: Exception | None = None
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, text: str, visibility_timeout: int = 0) -> None:
        if self.broken is not None:
            raise self.broken
        self.sent.append(Sent(text, visibility_timeout))

    def send_poison(self, text: str) -> Envelope:
        if self.poison_broken is not None:
            raise self.poison_broken
        number = next(self._numbers)
        self.poison[number] = text
        return Envelope(self, str(number))

    def poison_receipt(self, message_id: str, pop_receipt: str) -> Envelope:
        return Envelope(self, message_id, pop_receipt)

    def envelopes(self) -> list[PoisonEnvelope]:
        return [read_poison(text) for text in self.poison.values()]

    def purge(self) -> None:
        self.poison.clear()
