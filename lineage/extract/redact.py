"""Scrubbing secrets out of free text that Data Factory hands back (error messages, SQL text).

Linked-service fields are read through allow-lists and never need this; error messages are the one place where
Data Factory echoes back whatever the failing store said, which can include a SAS URL or a connection string —
as ``key=value`` pairs, as JSON (``"password": "..."``), or as XML elements.
"""

from __future__ import annotations

import re

# Names of fields that hold a secret: password, pwd, accountKey, servicePrincipalKey, sasToken, client_secret,
# SharedAccessSignature, sig, encryptedCredential, apiKey, token, credential(s)...
_SECRET_NAME = r"[\w.-]*?(?:password|passwd|pwd|secret|token|key|signature|credentials?|sig|sas(?:uri|url)?)"  # noqa: S105
_SECRET_PAIRS = re.compile(
    rf"(?i)\b({_SECRET_NAME})([\"']?\s*[=:]\s*)"  # the name (maybe quoted, as in JSON), then = or :
    r"(\"[^\"]*\"?|'[^']*'?|[^;&\s,'\"<>}]+)"  # the value: quoted (even if cut off) or up to a delimiter
)
_XML_SECRETS = re.compile(rf"(?i)(<(?:[\w-]+:)?{_SECRET_NAME}\b[^>]*>)[^<]*")
_URL_QUERY = re.compile(r"(?i)(https?://[^\s?'\"]+)\?[^\s'\"]*")
_URL_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@'\"]+@")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
MASK = "***"


def redact(text: str) -> str:
    """Mask key=value and JSON/XML secrets, URL query strings (SAS tokens live there), user info in URLs and bearer
    tokens."""
    text = _SECRET_PAIRS.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    text = _XML_SECRETS.sub(lambda m: f"{m[1]}{MASK}", text)
    text = _URL_QUERY.sub(lambda m: f"{m[1]}?{MASK}", text)
    text = _URL_USER_INFO.sub(lambda m: f"{m[1]}{MASK}@", text)
    return _BEARER.sub(f"Bearer {MASK}", text)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An SDK error's first line, redacted: enough to act on, without the request dump that follows it."""
    return redact((str(exc).strip().splitlines() or [""])[0])[:limit]
