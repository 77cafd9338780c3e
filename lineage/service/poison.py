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
from dataclasses import dataclass
from typing import Any

from lineage.service.events import EventError, WorkMessage

ENVELOPE_VERSION = 1
MAX_REASON_CHARS = 2_000
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
    that says so."""
    text, how = _raw_text(body)
    doc = _json(text)
    if isinstance(doc, Mapping) and doc.get("poison") == ENVELOPE_VERSION and isinstance(doc.get("message"), str):
        return PoisonEnvelope(
            message=doc["message"],
            error_class=str(doc.get("errorClass") or "Unknown"),
            reason=str(doc.get("reason") or ""),
            attempts=int(doc.get("attempts") or 0),
            first_seen=str(doc.get("firstSeen") or ""),
            last_failure=str(doc.get("lastFailure") or ""),
            run_id=doc.get("runId") if isinstance(doc.get("runId"), str) else None,
            factory=doc.get("factory") if isinstance(doc.get("factory"), str) else None,
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


def _raw_text(body: str) -> tuple[str, str]:
    """The host copies the body as it was received; with base64 encoding that may be the encoded text itself."""
    if _json(body) is not None:
        return body, PLAIN
    try:
        decoded = base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return body, "body is neither JSON nor base64"
    return decoded, "base64 body"


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
