#!/usr/bin/env python3
"""Make an identity a *Data Curator* of one Purview collection, through Purview's metadata-policy API.

Data Curator is a Purview collection role, not an Azure role: Bicep cannot grant it. This script reads the
collection's metadata policy, adds the object id to the collection's data-curator rule and writes the policy back:

    GET {endpoint}/policystore/metadataPolicies?collectionName={collection}&api-version=2021-07-01-preview
    PUT {endpoint}/policystore/metadataPolicies/{policyId}?api-version=2021-07-01-preview

It changes nothing when the identity already holds the role, so it can run on every deployment. The caller (your
sign-in, through azure-identity) must be a Collection Admin of that collection. Standard library + azure-identity
only; no token is ever printed.

    python infra/hooks/grant_purview_curator.py --account ACCOUNT --collection NAME --object-id OBJECT_ID
    python infra/hooks/grant_purview_curator.py --account ACCOUNT --settings infra/lineage-settings.json --object-id ID

The collection is always named, or mapped by the lineage settings' ``collections`` (every collection a factory's
lineage can go to, the default included): the root collection (named like the account) is granted only when named or
mapped, since Data Curator there can edit every asset of the account.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

API_VERSION = "2021-07-01-preview"
SCOPE = "https://purview.azure.net/.default"
CURATOR_RULE_PREFIX = "purviewmetadatarole_builtin_data-curator:"
PRINCIPAL_ATTRIBUTE = "principal.microsoft.id"
TIMEOUT_S = 60


class PolicyError(ValueError):
    """The metadata policy is not what a data-curator grant can be made on; the message says what to do."""


def curator_rule(policy: dict[str, Any], collection: str) -> dict[str, Any]:
    """The policy's data-curator attribute rule for ``collection`` (rule ids are lower-case in Purview)."""
    rules = (policy.get("properties") or {}).get("attributeRules") or []
    wanted = (CURATOR_RULE_PREFIX + collection).lower()
    found = [r for r in rules if isinstance(r, dict) and str(r.get("id", "")).lower().startswith(CURATOR_RULE_PREFIX)]
    for rule in found:
        if str(rule.get("id", "")).lower() == wanted:
            return rule
    others = ", ".join(str(r.get("id")) for r in found) or "none"
    raise PolicyError(
        f"the metadata policy {policy.get('name') or policy.get('id')!r} has no data-curator rule for collection "
        f"{collection!r} (data-curator rules found: {others}). Purview creates that rule when the collection gets its "
        "first Data Curator: add one in the Purview portal (Data Map > Collections > Role assignments > Data "
        "curators), or grant the role on a collection that has it (the root collection, named like the account, "
        "always does), then run this again")


def _principal_matcher(rule: dict[str, Any]) -> dict[str, Any]:
    """The ``principal.microsoft.id`` matcher of the rule's direct-assignment clause (``dnfCondition[0][0]``)."""
    clauses = rule.get("dnfCondition")
    if not isinstance(clauses, list) or not clauses or not isinstance(clauses[0], list):
        raise PolicyError(f"rule {rule.get('id')!r} has no dnfCondition clause to add a principal to")
    for matcher in clauses[0]:
        if isinstance(matcher, dict) and matcher.get("attributeName") == PRINCIPAL_ATTRIBUTE:
            return matcher
    raise PolicyError(f"rule {rule.get('id')!r}: its first dnfCondition clause has no {PRINCIPAL_ATTRIBUTE} matcher")


def add_curator(policy: dict[str, Any], collection: str, object_id: str) -> bool:
    """Add ``object_id`` to ``collection``'s data-curator rule in ``policy`` (in place).

    Returns True when the policy changed, False when the identity was already a Data Curator there. Raises
    PolicyError when the policy has no data-curator rule for that collection.
    """
    if not object_id.strip():
        raise PolicyError("no object id to grant the Data Curator role to")
    matcher = _principal_matcher(curator_rule(policy, collection))
    members = matcher.get("attributeValueIncludedIn")
    if members is None:
        members = matcher["attributeValueIncludedIn"] = []
    if not isinstance(members, list):
        raise PolicyError(f"{PRINCIPAL_ATTRIBUTE}.attributeValueIncludedIn is not a list")
    wanted = object_id.strip().lower()
    if any(str(m).lower() == wanted for m in members):
        return False
    members.append(object_id.strip())
    return True


def select_policy(listing: dict[str, Any], collection: str) -> dict[str, Any]:
    """The collection's policy from a ``GET metadataPolicies`` answer (``{"values": [...]}`` or a single policy)."""
    policies = listing.get("values") if "values" in listing else [listing]
    if not isinstance(policies, list):
        raise PolicyError("the metadata-policy answer has no list of policies")
    wanted = collection.lower()
    for policy in policies:
        reference = ((policy.get("properties") or {}).get("collection") or {}).get("referenceName")
        if isinstance(reference, str) and reference.lower() == wanted:
            return dict(policy)
    raise PolicyError(f"no metadata policy for collection {collection!r}: use the collection's name (the "
                      "6-character id shown in the portal's URL, or the account name for the root collection), "
                      "not its display name")


def mapped_collections(settings: Any) -> list[str]:
    """Every collection the lineage settings' ``collections`` mapping can send lineage to, sorted (the same list as
    ``lineage.extract.collection_map.Collections.named``; this script stays standard-library only)."""
    mapping = settings.get("collections") if isinstance(settings, dict) else None
    if mapping is None:
        return []
    if not isinstance(mapping, dict):
        raise PolicyError("the lineage settings' collections must be an object")
    names: set[Any] = {mapping["default"]} if mapping.get("default") is not None else set()
    for key in ("factories", "resourceGroups", "subscriptions"):
        names.update((mapping.get(key) or {}).values())
    names.update(entry.get("collection") for entry in mapping.get("namePatterns") or [] if isinstance(entry, dict))
    if not all(isinstance(n, str) and n for n in names):
        raise PolicyError("the lineage settings' collections name a collection that is not a non-empty string")
    return sorted(names)


def _request(method: str, url: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    where = f"{method} {url.partition('?')[0]}"
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - https URL built from our own parts
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")[:2000]
        hint = " (the signed-in identity must be a Collection Admin of that collection)" if exc.code == 403 else ""
        raise PolicyError(f"{where} answered {exc.code}{hint}: {detail}") from None
    except urllib.error.URLError as exc:
        raise PolicyError(f"{where} failed: {exc.reason}") from None
    result = json.loads(raw) if raw else {}
    if not isinstance(result, dict):
        raise PolicyError(f"{where} answered something other than a JSON object")
    return result


def grant(endpoint: str, collection: str, object_id: str, credential: TokenCredential,
          log: Callable[[str], None] = print) -> bool:
    """Make ``object_id`` a Data Curator of ``collection``; True when the policy was changed."""
    base = endpoint.rstrip("/")
    token = credential.get_token(SCOPE).token
    query = urllib.parse.urlencode({"collectionName": collection, "api-version": API_VERSION})
    policy = select_policy(_request("GET", f"{base}/policystore/metadataPolicies?{query}", token), collection)
    updated = copy.deepcopy(policy)
    if not add_curator(updated, collection, object_id):
        log(f"{object_id} is already a Data Curator of collection {collection!r}: nothing to change")
        return False
    policy_id = urllib.parse.quote(str(policy.get("id") or ""), safe="")
    if not policy_id:
        raise PolicyError("the collection's metadata policy has no id")
    version = urllib.parse.urlencode({"api-version": API_VERSION})
    _request("PUT", f"{base}/policystore/metadataPolicies/{policy_id}?{version}", token, updated)
    log(f"{object_id} is now a Data Curator of collection {collection!r}")
    return True


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--account", default=os.environ.get("PURVIEW_ACCOUNT_NAME"),
                        help="Purview account name (default: $PURVIEW_ACCOUNT_NAME)")
    parser.add_argument("--collection", default=os.environ.get("PURVIEW_COLLECTION"),
                        help="collection name, not display name (default: $PURVIEW_COLLECTION; the root "
                             "collection is named like the account, and is never chosen for you)")
    parser.add_argument("--settings", type=argparse.FileType("r", encoding="utf-8"),
                        help="lineage settings (JSON): grant every collection its collections mapping names")
    parser.add_argument("--object-id", default=os.environ.get("FUNCTION_APP_PRINCIPAL_ID"),
                        help="object id to grant the role to (default: $FUNCTION_APP_PRINCIPAL_ID)")
    parser.add_argument("--endpoint", help="policy store base URL (default: https://ACCOUNT.purview.azure.com)")
    args = parser.parse_args(argv)
    if not args.account and not args.endpoint:
        parser.error("name the Purview account: --account or PURVIEW_ACCOUNT_NAME")
    if not args.object_id:
        parser.error("name the identity: --object-id or FUNCTION_APP_PRINCIPAL_ID")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.settings is not None:
        try:
            with args.settings:
                collections = mapped_collections(json.load(args.settings))
        except (ValueError, PolicyError) as exc:
            print(f"grant_purview_curator: {args.settings.name}: {exc}", file=sys.stderr)
            return 2
        if not collections:
            print(f"grant_purview_curator: {args.settings.name} maps no collections: nothing granted from it")
            return 0
    else:
        collection = (args.collection or "").strip()
        if not collection or "," in collection:
            print("grant_purview_curator: name one collection: --collection or PURVIEW_COLLECTION (the root "
                  "collection is named like the account; it is not the default), or --settings", file=sys.stderr)
            return 2
        collections = [collection]
    endpoint = args.endpoint or f"https://{args.account}.purview.azure.com"
    # Only the real run needs them (the functions above are tested without).
    from azure.core.exceptions import ClientAuthenticationError  # noqa: PLC0415
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415

    credential = DefaultAzureCredential(exclude_managed_identity_credential=True)
    try:
        for collection in collections:
            grant(endpoint, collection, args.object_id, credential)
    except PolicyError as exc:
        print(f"grant_purview_curator: {exc}", file=sys.stderr)
        return 1
    except ClientAuthenticationError as exc:
        print(f"grant_purview_curator: could not sign in (az login, or azd auth login): {exc.message}",
              file=sys.stderr)
        return 1
    finally:
        credential.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
