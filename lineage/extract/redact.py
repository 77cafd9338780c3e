"""Scrubbing secrets out of free text that Data Factory and the services hand back (error messages, SQL text).

Linked-service fields are read through allow-lists and never need this; error messages are the one place where
Data Factory echoes back whatever the failing store said, which can include a SAS URL, a connection string, an
HTTP request with its ``Authorization`` header or a key file. What comes out goes to Purview (an activity's
``errorMessage`` is readable by anyone who can read the collection), to poison reasons and to logs, so the rules are
built to mask too much rather than too little:

- a value after a secret's name (``Password=``, ``"accountKey":``, ``sig=``, ``Authorization:`` ...) is masked
  whole: a quoted value to its closing quote (escaped quotes, doubled quotes and ``\\"``-escaped JSON inside JSON
  included), an ODBC braced value (``PWD={a;b}``) to its closing brace, anything else to the next ``;`` or the end
  of the line (or to the next secret's name), since a plain value may hold ``,`` ``&`` ``}`` spaces or quotes and
  still be one secret;
- secret-bearing XML elements, URL user info and query strings, HTTP authorization schemes (``Bearer``, ``Basic``
  and the others), JSON Web Tokens and PEM blocks are masked wherever they stand;
- control and invisible characters are escaped (``\\n``, ``\\u200b``), so that no text we pass on can forge a log
  line or hide a character in Purview.
"""

from __future__ import annotations

import re

from lineage.extract.stores.naming import INVISIBLE_CLASS

MASK = "***"
# Names of fields that hold a secret: password, pwd, accountKey, servicePrincipalKey, sasToken, client_secret,
# SharedAccessSignature, sig, encryptedCredential, apiKey, token, credential(s), Authorization, Cookie... followed
# (after an optional closing quote, escaped or not) by '=' or ':'. Matched anywhere in a word: AccountKey, x-api-key.
_SECRET_NAME = (r"(?:password|passwd|pwd|secret|token|key|signature|credentials?|sig|sas(?:uri|url)?"  # noqa: S105
                r"|authorization|cookie)")
_PAIR = re.compile(rf"(?i)({_SECRET_NAME})(?:\\*[\"'])?\s*[=:]\s*")
_PLAIN_END = re.compile(r"[;\r\n]")
_LINE_END = re.compile(r"[\r\n]")
_HEADERS = frozenset({"authorization", "cookie"})  # a header's plain value is the whole line: "a=b; c=d" is one
_MAX_ESCAPES = 8  # backslashes before a quote: JSON in JSON in JSON... deeper is no quoting anyone writes
_HTML_QUOTES = ("&quot;", "&apos;", "&#34;", "&#39;", "&#x22;", "&#x27;")
# Bounded repetitions below: a hostile text of many '<' or '://' must not make a scan per occurrence quadratic.
_XML_SECRETS = re.compile(rf"(?i)(<(?:[\w.-]{{1,64}}:)?[\w.-]{{0,64}}{_SECRET_NAME}(?=[\s/>])[^<>]{{0,1024}}>)[^<]*")
_URL_USER_INFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,30}://)[^/?#@\r\n]{1,256}@")
_URL_QUERY = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{0,30}://[^\s?#'\"<>]{0,2048}+)\?[^\s'\"<>]*")
_SCHEMES = re.compile(r"(?i)\b(bearer|basic|digest|negotiate|ntlm|hawk|sharedkey(?:lite)?|sharedaccesssignature"
                      r"|aws4-hmac-sha256)(\s+)(?!\*\*\*)\S+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_=-]{8,}(?:\.[A-Za-z0-9_=-]*)*")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{1,64}-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{1,64}-----")
_INVISIBLE = re.compile(f"[{INVISIBLE_CLASS}]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\\[nr]")  # after redact(), a line break is the two characters \n


def redact(text: str) -> str:
    """Mask every secret the rules above know, then escape control and invisible characters."""
    text = _pem(text)
    text = _pairs(text)
    text = _XML_SECRETS.sub(lambda m: f"{m[1]}{MASK}", text)
    text = _URL_USER_INFO.sub(lambda m: f"{m[1]}{MASK}@", text)
    text = _URL_QUERY.sub(lambda m: f"{m[1]}?{MASK}", text)
    text = _SCHEMES.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    text = _JWT.sub(MASK, text)
    return escape_invisible(text)


def escape_invisible(text: str) -> str:
    """Control, format and separator characters as escapes (``\\n``, ``\\x00``, ``\\u202e``): a text that reaches a
    log line or a report stays on one line and shows what it holds."""
    if _INVISIBLE.search(text) is None:  # nearly always: one scan, no copy
        return text
    return _INVISIBLE.sub(lambda m: _ESCAPES.get(m[0]) or _escape(m[0]), text)


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An SDK error's first line, redacted: enough to act on, without the request dump that follows it."""
    return redact((str(exc).strip().splitlines() or [""])[0])[:limit]


def first_sentence(text: str, limit: int = 300) -> str:
    """The first sentence (or line) of a text, redacted: what failed, without the store's own words that follow it.

    Masking runs on the whole text first, since a quoted secret is recognised by where its quotes close."""
    masked = redact(text.strip())
    end = _SENTENCE_END.search(masked)
    sentence = masked[:end.end()] if end is not None and end.group() not in ("\\n", "\\r") else \
        masked[:end.start()] if end is not None else masked
    return sentence.strip()[:limit]


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _pairs(text: str) -> str:
    """Every ``name=value`` / ``"name": value`` of a secret's name, with its whole value masked."""
    parts: list[str] = []
    done = 0
    stops = {_PLAIN_END: -1, _LINE_END: -1}  # the next ';' or line end found so far: each found once, not per value

    def stop(pattern: re.Pattern[str], start: int) -> int:
        if stops[pattern] < start:
            found = pattern.search(text, start)
            stops[pattern] = len(text) if found is None else found.start()
        return stops[pattern]

    while (found := _PAIR.search(text, done)) is not None:  # each search starts past the last value: linear
        header = found[1].lower() in _HEADERS
        opener, closer, end = _value(text, found.end(), stop(_LINE_END if header else _PLAIN_END, found.end()))
        parts.append(text[done:found.end()])
        parts.append(f"{opener}{MASK}{closer}")
        done = end
    parts.append(text[done:])
    return "".join(parts)


def _value(text: str, start: int, plain_end: int) -> tuple[str, str, int]:
    """(opening quote, closing quote, end) of the value starting at ``start``: quoted, braced or plain (a plain one
    ends at ``plain_end``, or where another secret's name starts, which is then masked on its own terms)."""
    size = len(text)
    if start >= size:
        return "", "", start
    escapes = 0
    while start + escapes < size and text[start + escapes] == "\\" and escapes <= _MAX_ESCAPES:
        escapes += 1
    quote_at = start + escapes
    if quote_at < size and text[quote_at] in "\"'" and escapes <= _MAX_ESCAPES:
        opener = text[start:quote_at + 1]
        close = _closing_quote(text, quote_at + 1, text[quote_at], escapes)
        if close < 0:  # never closed: everything after it may be the secret
            return opener, "", size
        return opener, text[close - escapes:close + 1], close + 1
    for entity in _HTML_QUOTES:
        if text.startswith(entity, start):
            close = text.find(entity, start + len(entity))
            return (entity, "", size) if close < 0 else (entity, entity, close + len(entity))
    if text[start] == "{":  # ODBC: {a;b}, a '}' inside written as '}}'
        close = text.find("}", start + 1)
        while close >= 0 and text.startswith("}}", close):
            close = text.find("}", close + 2)
        return ("{", "", size) if close < 0 else ("{", "}", close + 1)
    following = _PAIR.search(text, start, plain_end)
    return "", "", plain_end if following is None else following.start()


def _closing_quote(text: str, position: int, quote: str, escapes: int) -> int:
    """Where a value opened by ``quote`` behind ``escapes`` backslashes closes: the same quote behind exactly as
    many (a quote inside is behind more), not doubled (SQL's ``''``); -1 when it never does."""
    floor = position
    while (at := text.find(quote, position)) >= 0:
        behind = 0
        while behind <= escapes and at - behind - 1 >= floor and text[at - behind - 1] == "\\":
            behind += 1
        if behind != escapes:
            position = at + 1
            continue
        if escapes == 0 and text.startswith(quote, at + 1):  # '' inside a single-quoted SQL or ODBC string
            position = at + 2
            continue
        return at
    return -1


def _pem(text: str) -> str:
    """A PEM block's body (a private key, most often) from its BEGIN line to its END line, or to the end of the text
    when it was cut off."""
    parts: list[str] = []
    position = 0
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        end = _PEM_END.search(text, begin.end())
        parts.append(text[position:begin.end()])
        parts.append(MASK)
        if end is None:
            return "".join(parts)
        parts.append(end.group())
        position = end.end()
    parts.append(text[position:])
    return "".join(parts)
