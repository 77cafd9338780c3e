"""Scrubbing secrets out of free text that Data Factory hands back (error messages, SQL text).

Linked-service fields are read through allow-lists and never need this; error messages are the one place where
Data Factory echoes back whatever the failing store said, which can include a SAS URL or a connection string.
"""

from __future__ import annotations

import re

_SECRET_PAIRS = re.compile(
    r"(?i)\b(password|pwd|accountkey|sharedaccesskey|sharedaccesssignature|sig|secret|token|"
    r"access[_-]?token|client[_-]?secret|apikey|api[_-]?key|credential)(\s*[=:]\s*)"
    r"(\"[^\"]*\"|'[^']*'|[^;&\s,'\"]+)"
)
_URL_QUERY = re.compile(r"(?i)(https?://[^\s?'\"]+)\?[^\s'\"]*")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
MASK = "***"


def redact(text: str) -> str:
    """Mask key=value secrets, URL query strings (SAS tokens live there) and bearer tokens."""
    text = _SECRET_PAIRS.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    text = _URL_QUERY.sub(lambda m: f"{m[1]}?{MASK}", text)
    return _BEARER.sub(f"Bearer {MASK}", text)
