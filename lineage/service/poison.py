"""Poison queue messages: our envelopes, and the raw bodies the Functions host moves there on its own.

An envelope keeps the original message intact (so it can be replayed unchanged) next to why it failed, how often,
and since when. The host itself moves a message to ``<queue>-poison`` as a bare copy of the body when a function
keeps raising or when the body cannot be decoded; ``read_poison`` understands both.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lineage.extract.jsontext import JSONTextError, loads
from lineage.extract.redact import redact
from lineage.service.events import EventError, WorkMessage

ENVELOPE_VERSION = 1
MAX_REASON_CHARS = 2_000
MAX_ATTEMPTS = 1_000_000  # far above any host's maxDequeueCount: a larger number is not an attempt count
PLAIN = "plain JSON body"  # the host decodes base64 first: such a body was moved without the function running


@dataclass(frozen=True, slots=True)
class PoisonEnvelope:
    """Why a message could not be processed, with the message itself."""

    message: str
    error_class: str
    reason: str
    attempts: int
    first_seen: str
    last_failure: str
    run_id: str | None = None
    factory: str | None = None

    def to_json(self) -> str:
        return json.dumps({
            "poison": ENVELOPE_VERSION,
            "message": self.message,
            "errorClass": self.error_class,
            "reason": self.reason[:MAX_REASON_CHARS],
            "attempts": self.attempts,
            "firstSeen": self.first_seen,
            "lastFailure": self.last_failure,
            "runId": self.run_id,
            "factory": self.factory,
        }, separators=(",", ":"), sort_keys=True)


def read_poison(body: str) -> PoisonEnvelope:
    """Any poison-queue body (as stored: base64 or plain) as an envelope; a raw body the host moved gets a reason
    that says so. Never raises: a body nobody can read is shown with the reason it cannot be read, so that the
    operator's commands list, show, replay and purge it like any other."""
    text, how = _raw_text(body)
    doc = _json(text)
    if isinstance(doc, Mapping) and doc.get("poison") == ENVELOPE_VERSION and isinstance(doc.get("message"), str):
        return PoisonEnvelope(
            message=doc["message"],
            error_class=_text(doc.get("errorClass")) or "Unknown",
            reason=_text(doc.get("reason")),
            attempts=_count(doc.get("attempts")),
            first_seen=_text(doc.get("firstSeen")),
            last_failure=_text(doc.get("lastFailure")),
            run_id=_text(doc.get("runId")) or None,
            factory=_text(doc.get("factory")) or None,
        )
    run_id = factory = None
    try:
        work = WorkMessage.from_json(text)
        run_id, factory = work.run.run_id, work.run.factory.resource_id
        reason = (f"moved by the Functions host without running it: not base64-encoded ({how})" if how == PLAIN
                  else f"moved by the Functions host after its last attempt failed ({how})")
    except EventError as exc:
        reason = f"moved by the Functions host; not a work message ({how}): {exc}"
    return PoisonEnvelope(message=text, error_class="HostPoison", reason=reason, attempts=0,
                          first_seen="", last_failure="", run_id=run_id, factory=factory)


def for_display(envelope: PoisonEnvelope) -> PoisonEnvelope:
    """The envelope as the operator's commands print it: every text redacted, control and invisible characters
    escaped. A rejected event is stored as it arrived (redacted too, since ``accept_event``), but envelopes written
    by older releases, and bodies the host moved, were not: the commands never print what a body held unmasked."""
    return replace(
        envelope, message=redact(envelope.message), error_class=redact(envelope.error_class),
        reason=redact(envelope.reason), first_seen=redact(envelope.first_seen),
        last_failure=redact(envelope.last_failure),
        run_id=redact(envelope.run_id) if envelope.run_id is not None else None,
        factory=redact(envelope.factory) if envelope.factory is not None else None,
    )


def _raw_text(body: str) -> tuple[str, str]:
    """The host copies the body as it was received; with base64 encoding that may be the encoded text itself."""
    try:
        loads(body)
        return body, PLAIN
    except JSONTextError as exc:
        problem = str(exc)
    try:
        decoded = base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        if problem.startswith("is not JSON:"):
            return body, "body is neither JSON nor base64"
        return body, f"body {problem}"  # JSON, but not JSON anyone can read back (a huge integer, deep nesting)
    return decoded, "base64 body"


def _json(text: str) -> Any:
    try:
        return loads(text)
    except JSONTextError:
        return None


def _text(value: Any) -> str:
    """A field that should be text; anything else (a number, an object) is not shown as if it were one."""
    return value if isinstance(value, str) else ""


def _count(value: Any) -> int:
    return value if type(value) is int and 0 <= value <= MAX_ATTEMPTS else 0
