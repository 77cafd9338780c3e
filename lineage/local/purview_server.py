"""A local Purview Data Map (Atlas v2) server with the semantics the product's writer relies on.

Upsert by type + qualifiedName with placeholder guids and ``guidAssignments``; mandatory attributes and reference
types checked against the type definitions; a bulk call applied atomically or not at all, with Atlas' error codes;
look-ups by unique attribute; the lineage graph; the typedef API. Every request body is checked against Purview's
published OpenAPI spec when it is present. A human view shows the lineage it holds as a Mermaid graph.
"""

from __future__ import annotations

import argparse
import copy
import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lineage.extract.mermaid import flowchart
from lineage.local.httpserver import LocalServer, Request, Response, query_value
from lineage.local.purview_types import TypeRegistry
from lineage.local.tls import LocalTLS, make_local_tls

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT.parent / "shared" / "contracts" / "purview" / "purviewdatamap.json"
PREFIXES = ("/datamap/api", "/catalog/api")
MAX_ENTITIES = 4_000
MAX_ATTRIBUTE_BYTES = 32 * 1024
PUBLIC_PATHS = ("/", "/lineage.mmd")


class AtlasError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class PurviewServer(LocalServer):
    """``with PurviewServer(tls=tls) as purview: purview.url``."""

    audience = "https://purview.azure.net"

    def __init__(self, tls: LocalTLS, host: str = "127.0.0.1", port: int = 0, spec_path: Path | None = DEFAULT_SPEC,
                 exclude_types: Iterable[str] = ()) -> None:
        super().__init__(tls, host, port)
        self.types = TypeRegistry(exclude_types)
        self._entities: dict[str, dict[str, Any]] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._store = threading.Lock()
        self._spec = _Spec(spec_path) if spec_path is not None and spec_path.exists() else None
        self.validated: list[str] = []
        self.invalid: list[str] = []

    def audiences(self) -> frozenset[str]:
        # Purview accepts tokens for its resource URI and for its application id (pyapacheatlas asks for the latter).
        return frozenset({self.audience, "73c2949e-da2d-457a-9607-fcc665198967"})

    @property
    def validates_against_spec(self) -> bool:
        return self._spec is not None

    # ------------------------------------------------------------------------------------------------ state

    def entities(self) -> list[dict[str, Any]]:
        with self._store:
            return copy.deepcopy(sorted(self._entities.values(),
                                        key=lambda e: (e["typeName"], e["attributes"]["qualifiedName"])))

    def reset(self) -> None:
        with self._store:
            self._entities.clear()
            self._by_key.clear()

    def mermaid(self) -> str:
        """The lineage it holds, drawn with the product's own flowchart (references by type and name)."""
        with self._store:
            return flowchart([self._by_name(e) for e in self._entities.values()])

    # ---------------------------------------------------------------------------------------------- routing

    def _handle(self, handler: Any, method: str) -> None:
        if method == "GET" and handler.path.split("?")[0] in PUBLIC_PATHS:
            self._send(handler, self._view(handler.path.split("?")[0]))
            return
        super()._handle(handler, method)

    def error_body(self, status: int, code: str, message: str) -> Any:
        codes = {401: "ATLAS-401-00-001", 429: "ATLAS-429-00-001", 500: "ATLAS-500-00-001",
                 503: "ATLAS-503-00-001", 400: "ATLAS-400-00-001", 404: "ATLAS-404-00-001"}
        return {"requestId": str(uuid.uuid4()), "errorCode": code if code.startswith("ATLAS") else codes.get(
            status, f"ATLAS-{status}-00-001"), "errorMessage": message}

    def route(self, request: Request) -> Response:
        path = request.path
        for prefix in PREFIXES:
            if path.startswith(prefix + "/atlas/v2/"):
                path = path[len(prefix):]
                break
        else:
            return self._atlas_error(AtlasError(404, "ATLAS-404-00-001", f"no such API {request.path}"))
        if self._spec is not None:
            problem = self._spec.check(request.method, path, request.body)
            (self.invalid if problem else self.validated).append(f"{request.method} {path}")
            if problem:
                error = AtlasError(400, "ATLAS-400-00-001", f"request violates the API spec: {problem}")
                return self._atlas_error(error)
        try:
            return self._dispatch(request, path.removeprefix("/atlas/v2"))
        except AtlasError as exc:
            return self._atlas_error(exc)

    def _dispatch(self, request: Request, path: str) -> Response:
        parts = [p for p in path.split("/") if p]
        method = request.method
        if method == "POST" and parts == ["entity", "bulk"]:
            return Response(200, self._bulk(request.body))
        if method == "GET" and parts[:4] == ["entity", "bulk", "uniqueAttribute", "type"] and len(parts) == 5:
            names = [v[0] for k, v in sorted(request.query.items()) if k.startswith("attr_")
                     and k.endswith(":qualifiedName")]
            with self._store:
                found = [copy.deepcopy(self._entities[g]) for n in names
                         if (g := self._by_key.get((parts[4], n))) is not None]
            return Response(200, {"entities": found, "referredEntities": {}})
        if method == "GET" and parts[:3] == ["entity", "uniqueAttribute", "type"] and len(parts) == 4:
            name = query_value(request.query, "attr:qualifiedName") or ""
            with self._store:
                guid = self._by_key.get((parts[3], name))
                if guid is None:
                    raise AtlasError(404, "ATLAS-404-00-009", f"Instance {parts[3]} with unique attribute "
                                     f"{{qualifiedName:{name}}} does not exist")
                return Response(200, {"entity": copy.deepcopy(self._entities[guid]), "referredEntities": {}})
        if method == "GET" and parts[:2] == ["entity", "guid"] and len(parts) == 3:
            with self._store:
                if parts[2] not in self._entities:
                    raise AtlasError(404, "ATLAS-404-00-005", f"Given instance guid {parts[2]} is invalid/not found")
                return Response(200, {"entity": copy.deepcopy(self._entities[parts[2]]), "referredEntities": {}})
        if method == "GET" and parts[:1] == ["lineage"] and len(parts) == 2:
            return Response(200, self._lineage(parts[1], query_value(request.query, "direction") or "BOTH",
                                               int(query_value(request.query, "depth") or 3)))
        if method == "GET" and parts[:3] in (["types", "typedef", "name"], ["types", "entitydef", "name"]) \
                and len(parts) == 4:
            if not self.types.known(parts[3]):
                raise AtlasError(404, "ATLAS-404-00-003", f"Given typename {parts[3]} was invalid")
            return Response(200, self.types.defs[parts[3]].to_atlas())
        if method == "GET" and parts == ["types", "typedefs"]:
            return Response(200, {"entityDefs": [d.to_atlas() for d in self.types.defs.values()],
                                  "relationshipDefs": [], "enumDefs": [], "structDefs": [],
                                  "classificationDefs": [], "businessMetadataDefs": []})
        raise AtlasError(404, "ATLAS-404-00-001", f"no route for {method} {path}")

    # ------------------------------------------------------------------------------------------- bulk upsert

    def _bulk(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, Mapping) or not isinstance(body.get("entities"), list):
            raise AtlasError(400, "ATLAS-400-00-001", "body must be {\"entities\": [...]}")
        entities = body["entities"]
        if len(entities) > MAX_ENTITIES:
            raise AtlasError(400, "ATLAS-400-00-001", f"{len(entities)} entities exceed {MAX_ENTITIES} per request")
        with self._store:
            placeholders: dict[str, dict[str, Any]] = {}
            for entity in entities:
                self._check_entity(entity)
                placeholders[str(entity["guid"])] = entity
            assignments: dict[str, str] = {}
            planned: list[tuple[str, dict[str, Any], bool]] = []  # (guid, new entity, created?)
            for entity in entities:
                key = (entity["typeName"], entity["attributes"]["qualifiedName"])
                existing = self._by_key.get(key)
                guid = existing or str(uuid.uuid4())
                if str(entity["guid"]).startswith("-"):
                    assignments[str(entity["guid"])] = guid
                planned.append((guid, entity, existing is None))
            staged: list[tuple[str, dict[str, Any], bool, bool]] = []
            for guid, entity, created in planned:
                resolved = self._resolve_entity(entity, assignments, placeholders)
                merged, changed = self._merge(guid, resolved)
                staged.append((guid, merged, created, changed))
            mutated: dict[str, list[dict[str, Any]]] = {"CREATE": [], "UPDATE": []}
            for guid, merged, created, changed in staged:  # nothing failed: apply everything
                self._entities[guid] = merged
                self._by_key[(merged["typeName"], merged["attributes"]["qualifiedName"])] = guid
                if created or changed:
                    mutated["CREATE" if created else "UPDATE"].append(_header(merged))
        result: dict[str, Any] = {"guidAssignments": assignments}
        if mutated["CREATE"] or mutated["UPDATE"]:
            result["mutatedEntities"] = {k: v for k, v in mutated.items() if v}
        return result

    def _check_entity(self, entity: Any) -> None:
        if not isinstance(entity, Mapping):
            raise AtlasError(400, "ATLAS-400-00-001", "an entity must be an object")
        type_name = entity.get("typeName")
        if not isinstance(type_name, str) or not self.types.known(type_name):
            raise AtlasError(400, "ATLAS-400-00-014", f"Given typename {type_name} was invalid")
        if "guid" not in entity or entity["guid"] is None:
            raise AtlasError(400, "ATLAS-400-00-021", f"guid is null for an entity of type {type_name}")
        attributes = entity.get("attributes") or {}
        relationships = entity.get("relationshipAttributes") or {}
        for name, spec in self.types.attributes(type_name).items():
            if not spec.optional and attributes.get(name) in (None, ""):
                raise AtlasError(404, "ATLAS-404-00-007", f"Invalid instance creation/updation parameters passed : "
                                 f"{type_name}.{name}: mandatory attribute value missing in type {type_name}")
        for name, spec in self.types.relationships(type_name).items():
            if not spec.optional and relationships.get(name, attributes.get(name)) is None:
                raise AtlasError(404, "ATLAS-404-00-007", f"Invalid instance creation/updation parameters passed : "
                                 f"{type_name}.{name}: mandatory attribute value missing in type {type_name}")
        for name, value in attributes.items():
            if len(json.dumps(value)) > MAX_ATTRIBUTE_BYTES:
                raise AtlasError(400, "ATLAS-400-00-001", f"{type_name}.{name} exceeds {MAX_ATTRIBUTE_BYTES} bytes")

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
        return out

    def _ref(self, ref: Any, expected: str, assignments: Mapping[str, str],
             placeholders: Mapping[str, Mapping[str, Any]], where: str) -> dict[str, str]:
        if not isinstance(ref, Mapping):
            raise AtlasError(400, "ATLAS-400-00-001", f"{where}: a reference must be an object")
        guid = ref.get("guid")
        if guid is not None:
            guid = str(guid)
            if guid in assignments:
                type_name = placeholders[guid]["typeName"]
                real = assignments[guid]
            elif guid in self._entities:
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
            raise AtlasError(400, "ATLAS-400-00-001", f"{where}: {type_name} is not a {expected}")
        return {"guid": real, "typeName": type_name}

    def _merge(self, guid: str, new: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        old = self._entities.get(guid)
        if old is None:
            merged = {"guid": guid, "status": "ACTIVE", "createTime": int(time.time() * 1000), **new}
            return merged, True
        merged = copy.deepcopy(old)
        merged["attributes"].update(new["attributes"])
        merged["relationshipAttributes"].update(new["relationshipAttributes"])
        changed = merged["attributes"] != old["attributes"] or \
            merged["relationshipAttributes"] != old["relationshipAttributes"]
        return merged, changed

    # ------------------------------------------------------------------------------------------------- reads

    def _lineage(self, guid: str, direction: str, depth: int) -> dict[str, Any]:
        with self._store:
            if guid not in self._entities:
                raise AtlasError(404, "ATLAS-404-00-005", f"Given instance guid {guid} is invalid/not found")
            edges: set[tuple[str, str]] = set()
            for entity in self._entities.values():
                rels = entity.get("relationshipAttributes", {})
                for ref in rels.get("inputs") or []:
                    edges.add((ref["guid"], entity["guid"]))
                for ref in rels.get("outputs") or []:
                    edges.add((entity["guid"], ref["guid"]))
            seen, frontier, relations = {guid}, {guid}, set()
            for _ in range(depth * 2):
                nxt: set[str] = set()
                for a, b in edges:
                    if direction in ("BOTH", "OUTPUT") and a in frontier:
                        relations.add((a, b))
                        nxt.add(b)
                    if direction in ("BOTH", "INPUT") and b in frontier:
                        relations.add((a, b))
                        nxt.add(a)
                frontier = nxt - seen
                seen |= nxt
            return {"baseEntityGuid": guid, "lineageDirection": direction, "lineageDepth": depth,
                    "guidEntityMap": {g: _header(self._entities[g]) for g in sorted(seen)},
                    "relations": [{"fromEntityId": a, "toEntityId": b} for a, b in sorted(relations)]}

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
        graph = self.mermaid()
        if path == "/lineage.mmd":
            return Response(200, graph, content_type="text/plain; charset=utf-8")
        entities = self.entities()
        rows = "".join(f"<tr><td>{_html(e['typeName'])}</td><td>{_html(e['attributes']['qualifiedName'])}</td></tr>"
                       for e in entities)
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Local Purview</title>"
            "<script type='module'>import m from 'https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.esm.min.mjs';"
            "m.initialize({startOnLoad:true});</script></head><body>"
            f"<h1>Local Purview: {len(entities)} entities</h1><h2>Lineage</h2>"
            f"<pre class='mermaid'>{_html(graph)}</pre><h2>Entities</h2>"
            f"<table><tr><th>type</th><th>qualifiedName</th></tr>{rows}</table></body></html>"
        )
        return Response(200, page, content_type="text/html; charset=utf-8")

    def _atlas_error(self, exc: AtlasError) -> Response:
        return Response(exc.status, self.error_body(exc.status, exc.code, exc.message))


class _Spec:
    """Request bodies checked against Purview's OpenAPI (Swagger 2.0) document."""

    def __init__(self, path: Path) -> None:
        import jsonschema  # noqa: PLC0415 - only needed when the spec is present

        self.document = json.loads(path.read_text())
        self._validator = jsonschema.Draft4Validator
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


def _header(entity: Mapping[str, Any]) -> dict[str, Any]:
    attrs = entity["attributes"]
    return {"typeName": entity["typeName"], "guid": entity["guid"], "status": "ACTIVE",
            "displayText": attrs.get("name") or attrs["qualifiedName"],
            "attributes": {"qualifiedName": attrs["qualifiedName"], "name": attrs.get("name")}}


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Purview Data Map (Atlas v2) server.")
    parser.add_argument("--port", type=int, default=8444)
    parser.add_argument("--tls-dir", type=Path, default=Path(".local/tls"))
    args = parser.parse_args()
    with PurviewServer(make_local_tls(args.tls_dir), port=args.port) as server:
        print(f"Purview Data Map at {server.url}/datamap/api/atlas/v2 (view: {server.url}/)", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
