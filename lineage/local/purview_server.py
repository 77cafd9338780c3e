"""A local Purview Data Map (Atlas v2) server, as strict as the real one where the product depends on it.

Upsert by type + qualifiedName with placeholder guids (strings or integers) and ``guidAssignments``; every entity
checked against the real type definitions (mandatory attributes, relationship attributes included, enum values,
reference types); a bulk call applied atomically or not at all, with Atlas' error codes; reads by guid and by unique
attribute that show relationships from both ends, as Atlas does; soft delete; Data Map search; the lineage graph;
the typedef API. Every request is checked against Purview's published OpenAPI spec when it is present, and its
absence is said, never silent. A human view shows the lineage it holds as a Mermaid graph.

Collections: every entity lives in one (the root, named like the account, unless a bulk write names another with
``collectionId``); a write or delete needs the caller to be a Data Curator of the collections it touches, directly or
inherited from a parent collection, as Purview's metadata policies grant it. The caller is the local credential's
identity (``LOCAL_PRINCIPAL_ID``), Data Curator of the root unless a test says otherwise. The account API's collection
list and the policy store's metadata policies answer in Purview's shapes, for ``doctor``.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lineage.extract.mermaid import flowchart
from lineage.local.credential import LOCAL_PRINCIPAL_ID
from lineage.local.httpserver import LocalServer, Request, Response, list_page, query_value
from lineage.local.purview_types import DEFAULT_SHARED, TypeRegistry, warn_once
from lineage.local.tls import LocalTLS, make_local_tls

log = logging.getLogger(__name__)

DEFAULT_SPEC = DEFAULT_SHARED / "contracts" / "purview" / "purviewdatamap.json"
# The account API beside the Data Map's: its resource-set rules, answered with a real account's default configuration
RESOURCE_SET_RULES_PATH = "/account/resourceSetRuleConfigs/defaultResourceSetRuleConfig"
RESOURCE_SET_RULES = Path("contracts/purview/resource-sets/defaultResourceSetRuleConfig-2022-02.json")
PREFIXES = ("/datamap/api", "/catalog/api")
COLLECTIONS_PATH = "/account/collections"
COLLECTIONS_API_VERSION = "2019-11-01-preview"
POLICIES_PATH = "/policystore/metadataPolicies"
POLICIES_API_VERSION = "2021-07-01-preview"
CURATOR_RULE = "purviewmetadatarole_builtin_data-curator:"
DEFAULT_ACCOUNT = "localpurview"
MAX_ENTITIES = 4_000
MAX_ATTRIBUTE_BYTES = 32 * 1024
MAX_LINEAGE_DEPTH = 10  # deeper asks are answered at this depth: no request holds the store for long
SEARCH_LIMIT, MAX_SEARCH_LIMIT = 50, 1000  # the spec's default and maximum
DIRECTIONS = ("INPUT", "OUTPUT", "BOTH")
PUBLIC_PATHS = ("/", "/lineage.mmd", "/mermaid.min.js")
# The page draws its graph with Mermaid from the local npm install (package.json): it works offline.
MERMAID_JS = Path(__file__).resolve().parents[2] / "node_modules" / "mermaid" / "dist" / "mermaid.min.js"
ACTIVE, DELETED = "ACTIVE", "DELETED"
# The paths it serves (``*`` one segment) and their methods: a known path asked with another method answers 405.
ROUTES: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = (
    (("atlas", "v2", "entity", "bulk"), frozenset({"GET", "POST"})),
    (("atlas", "v2", "entity", "bulk", "uniqueAttribute", "type", "*"), frozenset({"GET"})),
    (("atlas", "v2", "entity", "uniqueAttribute", "type", "*"), frozenset({"GET"})),
    (("atlas", "v2", "entity", "guid", "*"), frozenset({"GET", "DELETE"})),
    (("atlas", "v2", "lineage", "*"), frozenset({"GET"})),
    (("atlas", "v2", "types", "typedef", "name", "*"), frozenset({"GET"})),
    (("atlas", "v2", "types", "entitydef", "name", "*"), frozenset({"GET"})),
    (("atlas", "v2", "types", "typedefs"), frozenset({"GET"})),
    (("search", "query"), frozenset({"POST"})),
)


class AtlasError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _invalid(message: str) -> AtlasError:
    return AtlasError(400, "ATLAS-400-00-001", message)


class PurviewServer(LocalServer):
    """``with PurviewServer(tls=tls) as purview: purview.url``."""

    audience = "https://purview.azure.net"

    def __init__(self, tls: LocalTLS, host: str = "127.0.0.1", port: int = 0, spec_path: Path | None = DEFAULT_SPEC,
                 exclude_types: Iterable[str] = (), *, shared: Path | None = DEFAULT_SHARED,
                 account: str = DEFAULT_ACCOUNT) -> None:
        super().__init__(tls, host, port)
        self.root_collection = account
        self.collections_page_size = 100  # the account API pages its collection list: tests make pages short
        # collection name -> parent (None for the root), and who is Data Curator of each (directly)
        self._parents: dict[str, str | None] = {account: None}
        self._curators: dict[str, set[str]] = {account: {LOCAL_PRINCIPAL_ID}}
        self.types = TypeRegistry(exclude_types, shared)
        self._rules_file = shared / RESOURCE_SET_RULES if shared is not None else None
        self._entities: dict[str, dict[str, Any]] = {}
        self._by_key: dict[tuple[str, str], str] = {}  # active entities only
        # target guid -> relationship attribute name at the source -> source guids: the other end of each reference
        self._referrers: dict[str, dict[str, set[str]]] = {}
        self._store = threading.Lock()
        self._spec: _Spec | None = None
        if spec_path is not None:
            if spec_path.exists():
                self._spec = _Spec(spec_path)
            else:
                warn_once(f"Purview's API spec not found at {spec_path}: the local Purview does not check requests "
                          "against it")
        self.validated: list[str] = []
        self.invalid: list[str] = []
        # The local stack's run ledger, as ``python -m lineage status --output json`` lists runs: shown on the page.
        self.lineage_status: Callable[[], Sequence[Mapping[str, Any]]] | None = None

    def audiences(self) -> frozenset[str]:
        # Purview accepts tokens for its resource URI and for its application id (pyapacheatlas asks for the latter).
        return frozenset({self.audience, "73c2949e-da2d-457a-9607-fcc665198967"})

    @property
    def validates_against_spec(self) -> bool:
        return self._spec is not None

    # ------------------------------------------------------------------------------------------------ state

    def entities(self) -> list[dict[str, Any]]:
        """The active entities as stored (references as ``{guid, typeName}`` under relationshipAttributes)."""
        with self._store:
            return copy.deepcopy(sorted(self._active(),
                                        key=lambda e: (e["typeName"], e["attributes"]["qualifiedName"])))

    def reset(self) -> None:
        with self._store:
            self._entities.clear()
            self._by_key.clear()
            self._referrers.clear()

    def add_collection(self, name: str, parent: str | None = None, *, curators: Iterable[str] = ()) -> None:
        """A collection under ``parent`` (the root by default), with these Data Curators of its own; the root's
        curators are curators here too, as Purview's role inheritance makes them."""
        with self._store:
            parent = parent or self.root_collection
            if parent not in self._parents:
                raise ValueError(f"no collection {parent!r} to add {name!r} under")
            self._parents[name] = parent
            self._curators[name] = set(curators)

    def set_curators(self, collection: str, curators: Iterable[str]) -> None:
        """Replace a collection's own Data Curators (``[]`` withdraws the role, inherited grants aside)."""
        with self._store:
            if collection not in self._parents:
                raise ValueError(f"no collection {collection!r}")
            self._curators[collection] = set(curators)

    def collection_of(self, type_name: str, qualified_name: str) -> str | None:
        """The collection of an active entity, None when there is none."""
        with self._store:
            guid = self._by_key.get((type_name, qualified_name))
            return None if guid is None else str(self._entities[guid]["collectionId"])

    def _is_curator(self, principal: str, collection: str) -> bool:
        at: str | None = collection
        while at is not None:
            if principal in self._curators.get(at, set()):
                return True
            at = self._parents.get(at)
        return False

    def _may_write(self, principal: str | None, collection: str, what: str) -> None:
        if principal is not None and not self._is_curator(principal, collection):
            raise AtlasError(403, "ATLAS-403-00-001", f"The caller {principal} is not authorized to {what}: it is "
                             f"not a Data Curator of collection {collection!r}")

    def seed(self, entities: Iterable[Mapping[str, Any]], collection: str | None = None) -> list[str]:
        """Store assets as a scanner would, through every check a bulk call gets: their guids, in order; in the
        collection the scan writes to (the root unless named).

        Entities without a guid get a placeholder; they may reference each other by placeholder guid or by unique
        attributes of what is already stored. An invalid seed raises ``AtlasError`` and stores nothing.
        """
        batch = [dict(e) for e in entities]
        taken = {str(e.get("guid")) for e in batch}
        placeholders = (str(-n) for n in range(1, 2 * len(batch) + 2) if str(-n) not in taken)
        for entity in batch:
            entity.setdefault("guid", next(placeholders))
        body = {"entities": batch}
        problem = self._spec.check("POST", "/atlas/v2/entity/bulk", body) if self._spec is not None else None
        if problem:
            raise _invalid(f"request violates the API spec: {problem}")
        self._bulk(body, collection, None)
        with self._store:
            return [self._by_key[(e["typeName"], e["attributes"]["qualifiedName"])] for e in batch]


    def mermaid(self) -> str:
        """The lineage it holds, drawn with the product's own flowchart (references by type and name)."""
        with self._store:
            return flowchart([self._by_name(e) for e in self._active()])

    # ---------------------------------------------------------------------------------------------- routing

    def _handle(self, handler: Any, method: str) -> None:
        if method == "GET" and handler.path.split("?")[0] in PUBLIC_PATHS:
            self._send(handler, self._view(handler.path.split("?")[0]))
            return
        super()._handle(handler, method)

    def error_body(self, status: int, code: str, message: str) -> Any:
        codes = {401: "ATLAS-401-00-001", 429: "ATLAS-429-00-001", 500: "ATLAS-500-00-001",
                 503: "ATLAS-503-00-001", 400: "ATLAS-400-00-001", 404: "ATLAS-404-00-001", 405: "ATLAS-405-00-001"}
        return {"requestId": str(uuid.uuid4()), "errorCode": code if code.startswith("ATLAS") else codes.get(
            status, f"ATLAS-{status}-00-001"), "errorMessage": message}

    def route(self, request: Request) -> Response:
        if request.path == RESOURCE_SET_RULES_PATH:
            return self._resource_set_rules(request.method)
        if request.path.startswith((COLLECTIONS_PATH, POLICIES_PATH)):
            try:
                return self._account(request)
            except AtlasError as exc:
                return self._atlas_error(exc)
        path = next((request.path[len(p):] for p in PREFIXES if request.path.startswith(p + "/")), None)
        parts = [p for p in (path or "").split("/") if p]
        allowed = next((methods for pattern, methods in ROUTES if _matches(pattern, parts)), None)
        if path is None or allowed is None:
            return self._atlas_error(AtlasError(404, "ATLAS-404-00-001", f"no such API {request.path}"))
        if request.method not in allowed:
            error = AtlasError(405, "ATLAS-405-00-001", f"{request.method} is not supported on {path}")
            return Response(405, self.error_body(405, error.code, error.message), {"Allow": ", ".join(sorted(allowed))})
        if self._spec is not None:
            problem = self._spec.check(request.method, path, request.body)
            (self.invalid if problem else self.validated).append(f"{request.method} {path}")
            if problem:
                return self._atlas_error(_invalid(f"request violates the API spec: {problem}"))
        try:
            return self._dispatch(request, parts)
        except AtlasError as exc:
            return self._atlas_error(exc)
        except Exception:  # a bug here must answer, not drop the client's connection
            log.exception("local Purview failed on %s %s", request.method, request.path)
            return self._atlas_error(AtlasError(500, "ATLAS-500-00-001", "internal error of the local Purview"))

    def _resource_set_rules(self, method: str) -> Response:
        if method != "GET":
            error = AtlasError(405, "ATLAS-405-00-001", f"{method} is not supported on {RESOURCE_SET_RULES_PATH}")
            return Response(405, self.error_body(405, error.code, error.message), {"Allow": "GET"})
        if self._rules_file is None or not self._rules_file.is_file():
            return self._atlas_error(AtlasError(404, "ATLAS-404-00-001", f"no resource-set rule configuration here "
                                                f"({self._rules_file} is absent)"))
        return Response(200, json.loads(self._rules_file.read_text(encoding="utf-8")))

    def _dispatch(self, request: Request, parts: list[str]) -> Response:
        method, query = request.method, request.query
        if parts[0] == "search":
            return Response(200, self._search(request.body))
        parts = parts[2:]  # after atlas/v2
        if parts == ["entity", "bulk"]:
            if method == "POST":
                collection = query_value(query, "collectionId")
                if collection is not None and query_value(query, "api-version") != "2023-09-01":
                    raise _invalid("collectionId needs api-version=2023-09-01")
                return Response(200, self._bulk(request.body, collection, LOCAL_PRINCIPAL_ID))
            return Response(200, {"entities": self._read_guids(query.get("guid") or []), "referredEntities": {}})
        if parts[:3] == ["entity", "bulk", "uniqueAttribute"]:
            names = [v[0] for k, v in sorted(query.items()) if k.startswith("attr_") and k.endswith(":qualifiedName")]
            with self._store:
                found = [self._render(self._entities[g]) for n in names
                         if (g := self._by_key.get((parts[4], n))) is not None]
            return Response(200, {"entities": found, "referredEntities": {}})
        if parts[:2] == ["entity", "uniqueAttribute"]:
            name = query_value(query, "attr:qualifiedName") or ""
            with self._store:
                guid = self._by_key.get((parts[3], name))
                if guid is None:
                    raise AtlasError(404, "ATLAS-404-00-009", f"Instance {parts[3]} with unique attribute "
                                     f"{{qualifiedName:{name}}} does not exist")
                return Response(200, {"entity": self._render(self._entities[guid]), "referredEntities": {}})
        if parts[:2] == ["entity", "guid"]:
            if method == "DELETE":
                return Response(200, self._delete(parts[2], LOCAL_PRINCIPAL_ID))
            [entity] = self._read_guids([parts[2]])
            return Response(200, {"entity": entity, "referredEntities": {}})
        if parts[0] == "lineage":
            direction, depth = _lineage_query(query)
            return Response(200, self._lineage(parts[1], direction, depth))
        if parts == ["types", "typedefs"]:
            model = self.types.model
            return Response(200, {"entityDefs": list(self.types.defs.values()),
                                  "relationshipDefs": list(model.relationship_defs.values()),
                                  "enumDefs": list(model.enum_defs.values()),
                                  "structDefs": [], "classificationDefs": [], "businessMetadataDefs": [],
                                  **model.other_defs})
        definition = self.types.typedef(parts[3]) if parts[1] == "typedef" else self.types.defs.get(parts[3])
        if definition is None:
            raise AtlasError(404, "ATLAS-404-00-003", f"Given typename {parts[3]} was invalid")
        return Response(200, definition)

    # ------------------------------------------------------------------------------------------- bulk upsert

    def _account(self, request: Request) -> Response:
        """The account API's collections and the policy store's metadata policies (GET only), in Purview's shapes."""
        if request.method != "GET":
            error = AtlasError(405, "ATLAS-405-00-001", f"{request.method} is not supported on {request.path}")
            return Response(405, self.error_body(405, error.code, error.message), {"Allow": "GET"})
        version = query_value(request.query, "api-version")
        if request.path.startswith(COLLECTIONS_PATH):
            if version != COLLECTIONS_API_VERSION:
                raise _invalid(f"api-version {COLLECTIONS_API_VERSION} is required")
            name = request.path[len(COLLECTIONS_PATH):].strip("/")
            with self._store:
                if name:
                    if name not in self._parents:
                        raise AtlasError(404, "CollectionNotFound", f"Collection {name} not found")
                    return Response(200, self._collection_body(name))
                page = list_page([self._collection_body(c) for c in sorted(self._parents)],
                                 query_value(request.query, "$skipToken"), self.collections_page_size,
                                 f"{self.url}{COLLECTIONS_PATH}?api-version={COLLECTIONS_API_VERSION}")
                if page is None:
                    raise _invalid("invalid $skipToken")
                return Response(200, {**page, "count": len(self._parents)})
        if version != POLICIES_API_VERSION:
            raise _invalid(f"api-version {POLICIES_API_VERSION} is required")
        wanted = query_value(request.query, "collectionName")
        with self._store:
            names = sorted(self._parents) if wanted is None else [wanted] if wanted in self._parents else []
            return Response(200, {"values": [self._policy(c) for c in names]})

    def _collection_body(self, name: str) -> dict[str, Any]:
        parent = self._parents[name]
        body: dict[str, Any] = {"name": name, "friendlyName": name, "collectionProvisioningState": "Succeeded"}
        if parent is not None:
            body["parentCollection"] = {"type": "CollectionReference", "referenceName": parent}
        return body

    def _policy(self, collection: str) -> dict[str, Any]:
        """A collection's metadata policy with its data-curator rule: direct grants, then the parent's role."""
        clauses: list[list[dict[str, Any]]] = [[
            {"attributeName": "principal.microsoft.id", "attributeValueIncludedIn": sorted(self._curators[collection])},
        ]]
        parent = self._parents[collection]
        if parent is not None:
            clauses.append([{"fromRule": CURATOR_RULE + parent, "attributeName": "derived.purview.role",
                             "attributeValueIncludes": CURATOR_RULE + parent}])
        return {"name": f"policy_{collection}", "id": f"policy-{collection}", "version": 1,
                "properties": {"collection": {"type": "CollectionReference", "referenceName": collection},
                               "parentCollectionName": parent or "",
                               "attributeRules": [{"kind": "attributerule", "id": CURATOR_RULE + collection,
                                                   "name": CURATOR_RULE + collection, "dnfCondition": clauses}]}}

    def _bulk(self, body: Any, collection: str | None, principal: str | None) -> dict[str, Any]:
        """Upsert; ``collection`` (``collectionId``) is where every sent entity goes, else a new one goes to the
        root and an existing one stays. ``principal`` None is a scanner's seed, which no role limits."""
        if not isinstance(body, Mapping) or not isinstance(body.get("entities"), list):
            raise _invalid("body must be {\"entities\": [...]}")
        entities = body["entities"]
        if len(entities) > MAX_ENTITIES:
            raise _invalid(f"{len(entities)} entities exceed {MAX_ENTITIES} per request")
        for entity in entities:
            self._check_entity(entity)
        placeholders = {str(e["guid"]): e for e in entities}
        with self._store:
            if collection is not None and collection not in self._parents:
                raise AtlasError(404, "ATLAS-404-00-001", f"collection {collection!r} does not exist")
            assignments: dict[str, str] = {}
            planned: list[tuple[str, Mapping[str, Any], bool]] = []  # (guid, entity, created?)
            in_call: dict[tuple[str, str], str] = {}
            for entity in entities:
                key = (entity["typeName"], entity["attributes"]["qualifiedName"])
                existing = self._by_key.get(key)
                guid = existing or in_call.get(key) or str(uuid.uuid4())
                in_call[key] = guid
                if _is_placeholder(entity["guid"]):
                    assignments[str(entity["guid"])] = guid
                planned.append((guid, entity, existing is None))
            homes: dict[str, str] = {}
            for guid, entity, created in planned:
                current = None if created else str(self._entities[guid]["collectionId"])
                homes[guid] = collection or current or self.root_collection
                what = f"write {entity['typeName']} {entity['attributes']['qualifiedName']}"
                self._may_write(principal, homes[guid], what)
                if current is not None and current != homes[guid]:
                    self._may_write(principal, current, f"move it out of {current!r} ({what})")
            staged = [(guid, *self._merge(guid, self._resolve_entity(entity, assignments, placeholders),
                                          homes[guid]), created)
                      for guid, entity, created in planned]
            mutated: dict[str, list[dict[str, Any]]] = {"CREATE": [], "UPDATE": []}
            for guid, merged, changed, created in staged:  # nothing failed: apply everything
                self._store_entity(guid, merged)
                if created or changed:
                    mutated["CREATE" if created else "UPDATE"].append(_header(merged))
        result: dict[str, Any] = {"guidAssignments": assignments}
        if mutated["CREATE"] or mutated["UPDATE"]:
            result["mutatedEntities"] = {k: v for k, v in mutated.items() if v}
        return result

    def _check_entity(self, entity: Any) -> None:
        """Atlas' checks of one entity (EntityGraphDiscovery.validateAndNormalize), its first complaint raised."""
        if not isinstance(entity, Mapping):
            raise _invalid("an entity must be an object")
        type_name = entity.get("typeName")
        if not isinstance(type_name, str) or not self.types.known(type_name):
            raise AtlasError(400, "ATLAS-400-00-014", f"Given typename {type_name} was invalid")
        guid = entity.get("guid")
        if guid is None:
            raise AtlasError(400, "ATLAS-400-00-021", f"guid is null for an entity of type {type_name}")
        if not isinstance(guid, str | int) or isinstance(guid, bool):
            raise _invalid(f"invalid guid {guid!r} for an entity of type {type_name}")
        attributes = entity.get("attributes") or {}
        relationships = entity.get("relationshipAttributes") or {}
        if not isinstance(attributes, Mapping) or not isinstance(relationships, Mapping):
            raise _invalid(f"{type_name}: attributes and relationshipAttributes must be objects")
        problems = self.types.problems(type_name, attributes, relationships)
        if problems:  # Atlas collects every problem and reports the first
            raise AtlasError(404, "ATLAS-404-00-007",
                             f"Invalid instance creation/updation parameters passed : {problems[0]}")
        if not isinstance(attributes.get("qualifiedName"), str):
            raise _invalid(f"{type_name}.qualifiedName must be a string")
        for name, value in attributes.items():
            if len(json.dumps(value)) > MAX_ATTRIBUTE_BYTES:
                raise _invalid(f"{type_name}.{name} exceeds {MAX_ATTRIBUTE_BYTES} bytes")

    def _resolve_entity(self, entity: Mapping[str, Any], assignments: Mapping[str, str],
                        placeholders: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """References rewritten to real guids; every reference must exist and have the declared type."""
        type_name = entity["typeName"]
        rels = self.types.relationships(type_name)
        out: dict[str, Any] = {"typeName": type_name, "attributes": {}, "relationshipAttributes": {}}
        for section in ("attributes", "relationshipAttributes"):
            for name, value in (entity.get(section) or {}).items():
                if name in rels:
                    spec = rels[name]
                    refs = value if isinstance(value, list) else [value]
                    resolved = [self._ref(r, spec.element_type, assignments, placeholders, f"{type_name}.{name}")
                                for r in refs if r is not None]
                    out["relationshipAttributes"][name] = resolved if spec.is_array else (
                        resolved[0] if resolved else None)
                elif section == "attributes":
                    out["attributes"][name] = value
        out["attributes"] = self.types.normalized(type_name, out["attributes"])
        return out

    def _ref(self, ref: Any, expected: str, assignments: Mapping[str, str],
             placeholders: Mapping[str, Mapping[str, Any]], where: str) -> dict[str, str]:
        if not isinstance(ref, Mapping):
            raise _invalid(f"{where}: a reference must be an object")
        guid = ref.get("guid")
        if guid is not None:
            guid = str(guid)  # a placeholder may be "-1" or -1, in the entity and in the reference alike
            if guid in assignments:
                type_name, real = placeholders[guid]["typeName"], assignments[guid]
            elif self._entities.get(guid, {}).get("status") == ACTIVE:
                type_name, real = self._entities[guid]["typeName"], guid
            else:
                raise AtlasError(404, "ATLAS-404-00-00A", f"Referenced entity {guid} is not found")
        else:
            type_name = str(ref.get("typeName"))
            qn = (ref.get("uniqueAttributes") or {}).get("qualifiedName")
            found = self._by_key.get((type_name, str(qn)))
            if found is None:
                raise AtlasError(404, "ATLAS-404-00-00A",
                                 f"Referenced entity AtlasObjectId{{typeName={type_name}, qualifiedName={qn}}} "
                                 "is not found")
            real = found
        if not self.types.is_a(type_name, expected):
            raise _invalid(f"{where}: {type_name} is not a {expected}")
        return {"guid": real, "typeName": type_name}

    def _merge(self, guid: str, new: dict[str, Any], collection: str) -> tuple[dict[str, Any], bool]:
        old = self._entities.get(guid)
        now = int(time.time() * 1000)
        if old is None:
            return {"guid": guid, "status": ACTIVE, "createTime": now, "updateTime": now, "collectionId": collection,
                    **new}, True
        merged = copy.deepcopy(old)
        merged["collectionId"] = collection
        merged["attributes"].update(new["attributes"])
        merged["relationshipAttributes"].update(new["relationshipAttributes"])
        changed = merged["attributes"] != old["attributes"] or \
            merged["relationshipAttributes"] != old["relationshipAttributes"] or collection != old["collectionId"]
        if changed:
            merged["updateTime"] = now
        return merged, changed

    def _store_entity(self, guid: str, entity: dict[str, Any]) -> None:
        """Store it and keep the other end of each of its references, so reads show relationships both ways."""
        old = self._entities.get(guid)
        for name, target in _references(old):
            self._referrers.get(target, {}).get(name, set()).discard(guid)
        for name, target in _references(entity):
            self._referrers.setdefault(target, {}).setdefault(name, set()).add(guid)
        self._entities[guid] = entity
        self._by_key[(entity["typeName"], entity["attributes"]["qualifiedName"])] = guid

    # --------------------------------------------------------------------------------------- reads, delete

    def _read_guids(self, guids: list[str]) -> list[dict[str, Any]]:
        if not guids:
            raise _invalid("at least one guid is required")
        with self._store:
            for guid in guids:
                if guid not in self._entities:
                    raise AtlasError(404, "ATLAS-404-00-005", f"Given instance guid {guid} is invalid/not found")
            return [self._render(self._entities[g]) for g in guids]

    def _delete(self, guid: str, principal: str | None) -> dict[str, Any]:
        """Atlas' soft delete: the entity stays readable by guid, marked DELETED, and is found no other way."""
        with self._store:
            entity = self._entities.get(guid)
            if entity is None:
                raise AtlasError(404, "ATLAS-404-00-005", f"Given instance guid {guid} is invalid/not found")
            self._may_write(principal, str(entity["collectionId"]),
                            f"delete {entity['typeName']} {entity['attributes']['qualifiedName']}")
            if entity["status"] == DELETED:
                return {}
            entity["status"], entity["updateTime"] = DELETED, int(time.time() * 1000)
            self._by_key.pop((entity["typeName"], entity["attributes"]["qualifiedName"]), None)
            return {"mutatedEntities": {"DELETE": [_header(entity)]}}

    def _render(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        """An entity as Atlas shows it: each relationship at both its ends, legacy ones also under attributes."""
        type_name = entity["typeName"]
        out = copy.deepcopy(dict(entity))
        relationships: dict[str, Any] = {}
        own = self.types.relationships(type_name)
        for name, value in entity["relationshipAttributes"].items():
            relationship = own[name].relationship if name in own else None
            relationships[name] = [self._related(r, relationship) for r in value] if isinstance(value, list) \
                else (self._related(value, relationship) if value else None)
        for source_name, sources in self._referrers.get(entity["guid"], {}).items():
            for source in sorted(sources):
                source_entity = self._entities[source]
                spec = self.types.relationships(source_entity["typeName"]).get(source_name)
                name = self.types.inverse(spec, source_name) if spec is not None else None
                if name is None or source_entity["status"] != ACTIVE or name in entity["relationshipAttributes"]:
                    continue
                related = self._related({"guid": source}, spec.relationship if spec else None)
                if name in own and not own[name].is_array:
                    relationships[name] = related
                else:
                    relationships.setdefault(name, []).append(related)
        out["relationshipAttributes"] = relationships
        legacy = self.types.attributes(type_name)
        for name, value in relationships.items():
            if name in legacy and value is not None:
                out["attributes"][name] = [_object_id(r) for r in value] if isinstance(value, list) \
                    else _object_id(value)
        return out

    def _related(self, ref: Mapping[str, Any], relationship: str | None) -> dict[str, Any]:
        target = self._entities[ref["guid"]]
        return {"guid": target["guid"], "typeName": target["typeName"],
                "uniqueAttributes": {"qualifiedName": target["attributes"]["qualifiedName"]},
                "displayText": _display(target), "entityStatus": target["status"], "relationshipType": relationship}

    def _active(self) -> Iterator[dict[str, Any]]:
        return (e for e in self._entities.values() if e["status"] == ACTIVE)

    # ------------------------------------------------------------------------------------ search, lineage

    def _search(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise _invalid("the search body must be an object")
        limit = SEARCH_LIMIT if body.get("limit") is None else body["limit"]
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise _invalid(f"limit must be a positive integer, not {limit!r}")
        keywords = body.get("keywords")
        if keywords is not None and not isinstance(keywords, str):
            raise _invalid("keywords must be a string or null")
        words = [] if keywords in (None, "", "*") else str(keywords).lower().split()
        matches = self._filter(body.get("filter"))
        token = body.get("continuationToken")
        if token is not None and (not isinstance(token, str) or not token.isdigit()):
            raise _invalid(f"invalid continuationToken {str(token)[:40]!r}")
        start = int(token or 0)
        with self._store:
            found = sorted((e for e in self._active() if matches(e) and all(
                w in f"{e['attributes'].get('name') or ''} {e['attributes']['qualifiedName']}".lower()
                for w in words)), key=lambda e: (e["attributes"]["qualifiedName"], e["typeName"]))
            end = start + min(limit, MAX_SEARCH_LIMIT)
            value = [{"@search.score": 1.0, "id": e["guid"], "qualifiedName": e["attributes"]["qualifiedName"],
                      "entityType": e["typeName"], "name": e["attributes"].get("name"),
                      "collectionId": e["collectionId"]}
                     for e in found[start:end]]
        result: dict[str, Any] = {"@search.count": len(found), "@search.count.approximate": False, "value": value}
        if end < len(found):  # the next page's start, as an opaque token
            result["continuationToken"] = str(end)
        return result

    def _filter(self, spec: Any) -> Callable[[Mapping[str, Any]], bool]:
        """A Data Map search filter as a predicate: type, attribute comparison, and/or/not of filters."""
        if spec is None:
            return lambda _: True
        if not isinstance(spec, Mapping):
            raise _invalid(f"a search filter must be an object, not {spec!r}")
        for combinator, combine in (("and", all), ("or", any)):
            if combinator in spec:
                if not isinstance(spec[combinator], list):
                    raise _invalid(f"'{combinator}' takes a list of filters")
                return _combined(combine, [self._filter(s) for s in spec[combinator]])
        if "not" in spec:
            inner = self._filter(spec["not"])
            return lambda e: not inner(e)
        type_name = spec.get("typeName", spec.get("entityType"))
        if type_name is not None:
            subtypes = spec.get("includeSubTypes", True) is not False
            return lambda e: e["typeName"] == type_name or (subtypes and self.types.is_a(e["typeName"], type_name))
        if "collectionId" in spec:
            wanted = spec["collectionId"]
            return lambda e: e["collectionId"] == wanted
        if "attributeName" in spec:
            return _comparison(spec)
        raise _invalid(f"unsupported search filter {json.dumps(spec)[:200]}")

    def _lineage(self, guid: str, direction: str, depth: int) -> dict[str, Any]:
        """Atlas' lineage: BOTH is the upstream walk and the downstream walk, not a walk in every direction."""
        with self._store:
            if self._entities.get(guid, {}).get("status") != ACTIVE:
                raise AtlasError(404, "ATLAS-404-00-005", f"Given instance guid {guid} is invalid/not found")
            seen, relations = {guid}, set()
            for way in (("INPUT", "OUTPUT") if direction == "BOTH" else (direction,)):
                frontier, visited = [guid], {guid}
                for _ in range(depth * 2):  # a hop to a process and one on to its datasets make one level
                    following: list[str] = []
                    for node in frontier:  # each edge touching the frontier once: linear per level
                        for edge in self._edges(node, way):
                            relations.add(edge)
                            other = edge[0] if way == "INPUT" else edge[1]
                            if other not in visited and self._entities[other]["status"] == ACTIVE:
                                visited.add(other)
                                following.append(other)
                    frontier = following
                seen |= visited
            relations = {(a, b) for a, b in relations if a in seen and b in seen}
            return {"baseEntityGuid": guid, "lineageDirection": direction, "lineageDepth": depth,
                    "guidEntityMap": {g: _header(self._entities[g]) for g in sorted(seen)},
                    "relations": [{"fromEntityId": a, "toEntityId": b} for a, b in sorted(relations)]}

    def _edges(self, node: str, way: str) -> Iterator[tuple[str, str]]:
        """(from, to) edges of the data flow at a node: a process's inputs/outputs, a dataset's processes."""
        rels = self._entities[node]["relationshipAttributes"]
        referrers = self._referrers.get(node, {})
        if way == "INPUT":
            yield from ((r["guid"], node) for r in rels.get("inputs") or [])
            yield from ((p, node) for p in referrers.get("outputs", ()))
        else:
            yield from ((node, r["guid"]) for r in rels.get("outputs") or [])
            yield from ((node, p) for p in referrers.get("inputs", ()))

    # ------------------------------------------------------------------------------------------ human view

    def _by_name(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        def named(ref: Mapping[str, Any]) -> dict[str, Any]:
            target = self._entities[ref["guid"]]
            return {"typeName": target["typeName"],
                    "uniqueAttributes": {"qualifiedName": target["attributes"]["qualifiedName"]}}

        rels = entity.get("relationshipAttributes", {})
        attributes = dict(entity["attributes"])
        for direction in ("inputs", "outputs"):
            if rels.get(direction):
                attributes[direction] = [named(r) for r in rels[direction]]
        return {"typeName": entity["typeName"], "attributes": attributes}

    def _view(self, path: str) -> Response:
        if path == "/mermaid.min.js":
            if not MERMAID_JS.is_file():
                return Response(404, "Mermaid is not installed here: run scripts/bootstrap (npm ci)",
                                content_type="text/plain; charset=utf-8")
            return Response(200, MERMAID_JS.read_text(encoding="utf-8"), {"Cache-Control": "max-age=3600"},
                            content_type="text/javascript; charset=utf-8")
        graph = self.mermaid()
        if path == "/lineage.mmd":
            return Response(200, graph, content_type="text/plain; charset=utf-8")
        entities = self.entities()
        rows = "".join(f"<tr><td>{_html(e['collectionId'])}</td><td>{_html(e['typeName'])}</td>"
                       f"<td>{_html(e['attributes']['qualifiedName'])}</td></tr>" for e in entities)
        held = Counter(str(e["collectionId"]) for e in entities)
        with self._store:
            tree = "".join(f"<li>{_html(name)}{' (under ' + _html(parent) + ')' if parent else ' (root)'}: "
                           f"{held[name]} entities</li>" for name, parent in sorted(self._parents.items()))
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Local Purview</title>"
            "<script src='/mermaid.min.js'></script>"
            "<script>window.mermaid && mermaid.initialize({startOnLoad: true});</script></head><body>"
            f"<h1>Local Purview: {len(entities)} entities</h1>{self._status_table()}<h2>Lineage</h2>"
            f"<pre class='mermaid'>{_html(graph)}</pre><h2>Collections</h2><ul>{tree}</ul><h2>Entities</h2>"
            f"<table><tr><th>collection</th><th>type</th><th>qualifiedName</th></tr>{rows}</table></body></html>"
        )
        return Response(200, page, content_type="text/html; charset=utf-8")

    def _status_table(self) -> str:
        """Lineage status per run, from the run ledger (what ``python -m lineage status`` reads), when there is one."""
        if self.lineage_status is None:
            return ""
        runs = sorted(self.lineage_status(), key=lambda r: str(r.get("lastChange")), reverse=True)
        counts = Counter(str(r.get("outcome")) for r in runs)
        columns = ("runId", "pipeline", "outcome", "reason", "events", "attempts", "waits", "entitiesWritten",
                   "lastChange")
        head = "".join(f"<th>{name}</th>" for name in columns)
        body = "".join("<tr>" + "".join(f"<td>{_html(str(r.get(name, '')))}</td>" for name in columns) + "</tr>"
                       for r in runs)
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())) or "no runs yet"
        return (f"<h2>Lineage status (run ledger): {_html(summary)}</h2>"
                f"<table id='lineage-status'><tr>{head}</tr>{body}</table>")

    def _atlas_error(self, exc: AtlasError) -> Response:
        return Response(exc.status, self.error_body(exc.status, exc.code, exc.message))


class _Spec:
    """Request bodies checked against Purview's OpenAPI (Swagger 2.0) document, read as the service reads JSON.

    Atlas binds JSON with Jackson, which takes ``null`` for an optional property (Purview's own search examples send
    ``"keywords": null``) and coerces a number into a string field (placeholder guids sent as ``-1``): neither is a
    spec violation here either.
    """

    def __init__(self, path: Path) -> None:
        import jsonschema  # noqa: PLC0415 - only needed when the spec is present

        self.document = json.loads(path.read_text(encoding="utf-8"))
        base = jsonschema.Draft4Validator
        checker = base.TYPE_CHECKER.redefine(
            "string", lambda _, value: isinstance(value, str | int) and not isinstance(value, bool))
        properties = base.VALIDATORS["properties"]

        def present(validator: Any, schema: Any, instance: Any, parent: Any) -> Any:
            if isinstance(instance, dict):
                instance = {k: v for k, v in instance.items() if v is not None}
            return properties(validator, schema, instance, parent)

        self._validator = jsonschema.validators.extend(base, validators={"properties": present}, type_checker=checker)
        self._templates = [(p, [s for s in p.split("/") if s]) for p in self.document["paths"]]
        self._validators: dict[tuple[str, str], Any] = {}

    def check(self, method: str, path: str, body: Any) -> str | None:
        """None when the request matches an operation of the spec, else what is wrong."""
        segments = [s for s in path.split("/") if s]
        for template, parts in self._templates:
            if len(parts) == len(segments) and all(t.startswith("{") or t == s for t, s in zip(parts, segments,
                                                                                                strict=True)):
                operation = self.document["paths"][template].get(method.lower())
                if operation is None:
                    continue
                validator = self._body_validator(template, method, operation)
                if validator is not None:
                    errors = sorted(validator.iter_errors(body), key=str)
                    if errors:
                        return f"{template}: {errors[0].message} at {list(errors[0].absolute_path)}"
                return None
        return f"{method} {path} is not an operation of the spec"

    def _body_validator(self, template: str, method: str, operation: Mapping[str, Any]) -> Any:
        """The operation's body schema as a validator, built once (the spec's definitions resolve its $refs)."""
        key = (template, method)
        if key not in self._validators:
            schemas = [p["schema"] for p in operation.get("parameters", []) if p.get("in") == "body"]
            self._validators[key] = self._validator(
                {**schemas[0], "definitions": self.document["definitions"]}) if schemas else None
        return self._validators[key]


def _matches(pattern: tuple[str, ...], parts: list[str]) -> bool:
    return len(pattern) == len(parts) and all(p in ("*", s) for p, s in zip(pattern, parts, strict=True))


def _is_placeholder(guid: Any) -> bool:
    return str(guid).startswith("-")


def _lineage_query(query: Mapping[str, list[str]]) -> tuple[str, int]:
    direction = query_value(query, "direction") or "BOTH"
    if direction not in DIRECTIONS:
        raise _invalid(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    raw = query_value(query, "depth") or "3"
    try:
        depth = int(raw)
    except ValueError:
        raise _invalid(f"depth must be an integer, not {raw!r}") from None
    if depth < 0:
        raise _invalid(f"depth must not be negative, not {depth}")
    return direction, min(depth, MAX_LINEAGE_DEPTH)


Predicate = Callable[[Mapping[str, Any]], bool]


def _combined(combine: Callable[[Iterable[bool]], bool], parts: list[Predicate]) -> Predicate:
    return lambda e: combine(p(e) for p in parts)


def _comparison(spec: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    name, operator, wanted = spec["attributeName"], spec.get("operator", "eq"), spec.get("attributeValue")
    tests: dict[str, Callable[[Any], bool]] = {
        "eq": lambda v: v == wanted, "ne": lambda v: v != wanted,
        "contains": lambda v: isinstance(v, str) and str(wanted).lower() in v.lower(),
        "prefix": lambda v: isinstance(v, str) and v.startswith(str(wanted)),
        "gt": lambda v: _ordered(v, wanted) and v > wanted, "ge": lambda v: _ordered(v, wanted) and v >= wanted,
        "lt": lambda v: _ordered(v, wanted) and v < wanted, "le": lambda v: _ordered(v, wanted) and v <= wanted,
    }
    if operator not in tests:
        raise _invalid(f"unsupported search operator {operator!r} (supported: {', '.join(tests)})")
    test = tests[operator]
    return lambda e: test(e.get(name) if name in ("createTime", "updateTime") else e["attributes"].get(name))


def _ordered(value: Any, wanted: Any) -> bool:
    numbers = int | float
    return (isinstance(value, numbers) and isinstance(wanted, numbers)) or (
        isinstance(value, str) and isinstance(wanted, str))


def _references(entity: Mapping[str, Any] | None) -> Iterator[tuple[str, str]]:
    for name, value in (entity or {}).get("relationshipAttributes", {}).items():
        for ref in value if isinstance(value, list) else [value]:
            if ref:
                yield name, ref["guid"]


def _object_id(ref: Mapping[str, Any]) -> dict[str, Any]:
    return {"guid": ref["guid"], "typeName": ref["typeName"], "uniqueAttributes": dict(ref["uniqueAttributes"])}


def _display(entity: Mapping[str, Any]) -> str:
    return str(entity["attributes"].get("name") or entity["attributes"]["qualifiedName"])


def _header(entity: Mapping[str, Any]) -> dict[str, Any]:
    attrs = entity["attributes"]
    return {"typeName": entity["typeName"], "guid": entity["guid"], "status": entity["status"],
            "displayText": _display(entity),
            "attributes": {"qualifiedName": attrs["qualifiedName"], "name": attrs.get("name")}}


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Purview Data Map (Atlas v2) server.")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--tls-dir", type=Path, default=Path(".local/tls/purview"),
                        help="where its CA is written (its own: the local Data Factory's is beside it)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    with PurviewServer(make_local_tls(args.tls_dir), port=args.port) as server:
        print(f"Purview Data Map at {server.url}/datamap/api/atlas/v2 (view: {server.url}/; CA: "
              f"{args.tls_dir / 'local-ca.pem'})", flush=True)
        print(f"types: {server.types.source}; requests checked against the API spec: "
              f"{'yes' if server.validates_against_spec else 'no'}", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
