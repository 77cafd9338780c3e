"""The reads and deletes beside the bulk write: Data Map search, soft delete by guid, the account's collections and
their metadata policies. Over the writer's client, so every call has its token, retries and deadline.

Search is an index that trails writes by seconds to minutes, and its filter is only a first cut: what ``prune``
removes is decided again on each hit's type and qualifiedName by the pure core.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from lineage.azure.purview import DATA_MAP_API_VERSION, PurviewError, PurviewWriter
from lineage.extract.prune import Held

SEARCH_PAGE = 1000  # the search API's maximum page
MAX_SEARCH_PAGES = 1000
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
    found: list[Held] = []
    seen: set[str] = set()
    for number in range(1, MAX_SEARCH_PAGES + 1):
        body = writer.request("search", "POST", url, params={"api-version": DATA_MAP_API_VERSION}, body=query)
        found.extend(_hits(body, number))
        token = body.get("continuationToken") if isinstance(body, Mapping) else None
        if not token:
            return found
        if not isinstance(token, str) or token in seen:
            raise PurviewError(f"Purview search: page {number} hands back a continuation token it gave before, or "
                               "one that is not text; stopped", status=None, code=None, transient=False)
        seen.add(token)
        query = {**query, "continuationToken": token}
    raise PurviewError(f"Purview search: more than {MAX_SEARCH_PAGES} pages; stopped", status=None, code=None,
                       transient=False)


def _hits(body: Any, number: int) -> Iterator[Held]:
    values = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(values, list):
        raise PurviewError(f"Purview search: page {number} is not a search result", status=None, code=None,
                           transient=False)
    for hit in values:
        if isinstance(hit, Mapping) and all(isinstance(hit.get(k), str) for k in ("id", "entityType",
                                                                                  "qualifiedName")):
            yield Held(hit["id"], hit["entityType"], hit["qualifiedName"])


def delete(writer: PurviewWriter, guid: str) -> None:
    """Soft-delete one entity (Purview keeps it as DELETED); a refusal raises ``PurviewError`` with its reason."""
    writer.request("delete", "DELETE", f"{writer.endpoint}/entity/guid/{quote(guid, safe='')}")


def collections(writer: PurviewWriter) -> dict[str, str | None]:
    """The account's collections by name, each with its parent's name (None for the root)."""
    body = writer.request("collections", "GET", writer.account_url("/account/collections"),
                          params={"api-version": COLLECTIONS_API_VERSION})
    values = body.get("value") if isinstance(body, Mapping) else None
    if not isinstance(values, list):
        raise PurviewError("Purview collections: the answer is not a collection list", status=None, code=None,
                           transient=False)
    out: dict[str, str | None] = {}
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
