"""Following a listing to its last page: never the same pages twice, never for ever, never to another host.

Azure's listings page two ways: a ``continuationToken`` sent back in the next query's body (Data Factory's run
queries, Data Map search) or a ``nextLink`` to GET (ARM lists, the Purview account API's collections). A listing
read to its first page only looks complete: a collection or role assignment on page two would be reported missing,
and a pipeline on page two would look deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit


def pages(fetch: Callable[[str | None], Any], *, next_key: str, max_pages: int,
          fail: Callable[[str], Exception]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(page number, page) of a listing: ``fetch(None)`` for the first page, then ``fetch(value)`` with the
    ``next_key`` value each page hands back (a token or a link), until a page hands back none.

    A value seen before would start the same pages over, for ever; so would a service that never stops handing out
    new ones: both stop with ``fail(reason)``, as does a page that is not a JSON object.
    """
    seen: set[str] = set()
    after: str | None = None
    for number in range(1, max_pages + 1):
        page = fetch(after)
        if not isinstance(page, Mapping):
            raise fail(f"page {number} is not a JSON object")
        yield number, page
        after = page.get(next_key)
        if not after:
            return
        if not isinstance(after, str):
            raise fail(f"page {number}'s {next_key} is not text")
        if after in seen:
            raise fail(f"page {number} hands back a {_named(next_key)} it gave before; stopped rather than read the "
                       "same pages for ever")
        seen.add(after)
    raise fail(f"more than {max_pages:,} pages; stopped")


def next_link(link: str, base_url: str, fail: Callable[[str], Exception]) -> str:
    """The path and query of a ``nextLink`` (without ``api-version``: the caller sends its own), which must point
    at the scheme and host the first page came from: the call carries our token, and a link elsewhere would hand
    it over. The query stays as the service encoded it: a skip token is often base64, whose ``+``, ``/`` and ``=``
    must reach the service as they left it."""
    parts, base = urlsplit(link), urlsplit(base_url)
    if (parts.scheme.lower(), parts.netloc.lower()) != (base.scheme.lower(), base.netloc.lower()):
        raise fail(f"nextLink points to another host ({parts.netloc or 'none'}); not followed")
    query = "&".join(pair for pair in parts.query.split("&") if pair and pair.partition("=")[0] != "api-version")
    return f"{parts.path}?{query}" if query else parts.path


def _named(key: str) -> str:
    return "continuation token" if key == "continuationToken" else key
