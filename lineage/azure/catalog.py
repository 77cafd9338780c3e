"""The reads and deletes beside the bulk write: Data Map search, soft delete by guid, the account's collections and
their metadata policies. Over the writer's client, so every call has its token, retries and deadline.

Search is an index that trails writes by seconds to minutes, and its filter is only a first cut: what ``prune``
removes is decided again on each hit's type and qualifiedName by the pure core.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from lineage.azure.pages import next_link, pages
from lineage.azure.purview import DATA_MAP_API_VERSION, PurviewError, PurviewWriter
from lineage.extract.prune import Held

SEARCH_PAGE = 1000  # the search API's maximum page
MAX_PAGES = 1000  # of any listing here: a service handing out next pages without end is stopped
COLLECTIONS_API_VERSION = "2019-11-01-preview"
POLICY_API_VERSION = "2021-07-01-preview"
CURATOR_RULE = "purviewmetadatarole_builtin_data-curator:"


def held_under(writer: PurviewWriter, prefix: str, types: Iterable[str]) -> list[Held]:
    """Every active entity of these types whose qualifiedName starts with ``prefix``, all pages."""
    url = writer.endpoint.removesuffix("/atlas/v2") + "/search/query"
    query: dict[str, Any] = {"keywords": None, "limit": SEARCH_PAGE, "filter": {"and": [
        {"or": [{"entityType": t, "includeSubTypes": False} for t in types]},
        {"attributeName": "qualifiedName", "operator": "prefix", "attributeValue": prefix},
    ]}}

    def fetch(token: str | None) -> Any:
        return writer.request("search", "POST", url, params={"api-version": DATA_MAP_API_VERSION},
                              body={**query, "continuationToken": token} if token else query)

    found: list[Held] = []
    for number, body in pages(fetch, next_key="continuationToken", max_pages=MAX_PAGES,
                              fail=lambda reason: _failure("search", reason)):
        found.extend(_hits(body, number))
    return found


def _failure(what: str, reason: str) -> PurviewError:
    return PurviewError(f"Purview {what}: {reason}", status=None, code=None, transient=False)


def _hits(body: Mapping[str, Any], number: int) -> Iterator[Held]:
    values = body.get("value")
    if not isinstance(values, list):
        raise _failure("search", f"page {number} is not a search result")
    for hit in values:
        if isinstance(hit, Mapping) and all(isinstance(hit.get(k), str) for k in ("id", "entityType",
                                                                                  "qualifiedName")):
            yield Held(hit["id"], hit["entityType"], hit["qualifiedName"])


def delete(writer: PurviewWriter, guid: str) -> None:
    """Soft-delete one entity (Purview keeps it as DELETED); a refusal raises ``PurviewError`` with its reason."""
    writer.request("delete", "DELETE", f"{writer.endpoint}/entity/guid/{quote(guid, safe='')}")


def collections(writer: PurviewWriter) -> dict[str, str | None]:
    """The account's collections by name, each with its parent's name (None for the root), all pages."""
    first = writer.account_url("/account/collections")

    def fail(reason: str) -> PurviewError:
        return _failure("collections", reason)

    def fetch(link: str | None) -> Any:
        path = "/account/collections" if link is None else next_link(link, first, fail)
        return writer.request("collections", "GET", writer.account_url(path),
                              params={"api-version": COLLECTIONS_API_VERSION})

    out: dict[str, str | None] = {}
    for number, body in pages(fetch, next_key="nextLink", max_pages=MAX_PAGES, fail=fail):
        values = body.get("value")
        if not isinstance(values, list):
            raise fail(f"page {number} is not a collection list")
        for item in values:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                parent = item.get("parentCollection")
                name = parent.get("referenceName") if isinstance(parent, Mapping) else None
                out[item["name"]] = name if isinstance(name, str) else None
    return out


def curators(writer: PurviewWriter, collection: str) -> set[str]:
    """The object ids the collection's metadata policy makes Data Curators there directly (lower-cased)."""
    body = writer.request("metadata policy", "GET", writer.account_url("/policystore/metadataPolicies"),
                          params={"collectionName": collection, "api-version": POLICY_API_VERSION})
    policies = body.get("values") if isinstance(body, Mapping) else None
    found: set[str] = set()
    for policy in policies if isinstance(policies, list) else []:
        rules = ((policy.get("properties") or {}) if isinstance(policy, Mapping) else {}).get("attributeRules")
        for rule in rules if isinstance(rules, list) else []:
            if not isinstance(rule, Mapping) or str(rule.get("id", "")).lower() != (CURATOR_RULE + collection).lower():
                continue
            for clause in rule.get("dnfCondition") or []:
                for matcher in clause if isinstance(clause, list) else []:
                    if isinstance(matcher, Mapping) and matcher.get("attributeName") == "principal.microsoft.id":
                        found.update(str(m).lower() for m in matcher.get("attributeValueIncludedIn") or [])
    return found
