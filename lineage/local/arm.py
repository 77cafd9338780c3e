"""The few Azure Resource Manager resources ``doctor`` reads about the Function App, served beside the local Data
Factory (the same ARM endpoint, as in Azure).

Real paths, api-versions and body shapes: ``GET .../providers/Microsoft.Web/sites/{app}`` (2023-12-01) with its
``identity``; ``GET {scope}/providers/Microsoft.Authorization/roleAssignments`` (2022-04-01) with the
``$filter=principalId eq '{id}'`` the portal and ``az role assignment list --assignee`` use, answering the principal's
assignments at, above and below the scope; ``GET {roleDefinitionId}`` (2022-04-01) with the role's permissions.
A filter it does not understand is a 400, as ARM answers it.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from lineage.local.httpserver import Request, Response, list_page, query_value

WEB_API = "2023-12-01"
AUTHORIZATION_API = "2022-04-01"
_SITE = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Web/sites/[^/]+$", re.IGNORECASE)
_ASSIGNMENTS = re.compile(r"^(?P<scope>/.*?)?/providers/Microsoft\.Authorization/roleAssignments$", re.IGNORECASE)
_DEFINITION = re.compile(r"^(/subscriptions/[^/]+)?/providers/Microsoft\.Authorization/roleDefinitions/[^/]+$",
                         re.IGNORECASE)
_PRINCIPAL_FILTER = re.compile(r"^principalId eq '(?P<id>[0-9a-fA-F-]{36})'$")


class ArmDirectory:
    """Function Apps, role definitions and role assignments, as tests and ``./run-local`` set them up."""

    def __init__(self) -> None:
        self._sites: dict[str, dict[str, Any]] = {}
        self._definitions: dict[str, dict[str, Any]] = {}
        self._assignments: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        """No apps, roles or assignments (a clean slate between tests)."""
        with self._lock:
            self._sites.clear()
            self._definitions.clear()
            self._assignments.clear()

    def add_app(self, app_id: str, *, identity: bool = True) -> str | None:
        """A Function App, with a system-assigned identity unless ``identity`` is false; its principal id."""
        principal = str(uuid.uuid4()) if identity else None
        body: dict[str, Any] = {"id": app_id, "name": app_id.rsplit("/", 1)[-1], "type": "Microsoft.Web/sites",
                                "kind": "functionapp,linux", "location": "westeurope",
                                "properties": {"state": "Running"}}
        if principal is not None:
            body["identity"] = {"type": "SystemAssigned", "principalId": principal, "tenantId": str(uuid.UUID(int=0))}
        with self._lock:
            self._sites[app_id.lower()] = body
        return principal

    def add_role(self, subscription: str, name: str, actions: Sequence[str], *, data_actions: Sequence[str] = (),
                 not_actions: Sequence[str] = ()) -> str:
        """A role definition; its id (what an assignment's ``roleDefinitionId`` holds)."""
        role_id = f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{uuid.uuid4()}"
        with self._lock:
            self._definitions[role_id.lower()] = {
                "id": role_id, "name": role_id.rsplit("/", 1)[-1], "type": "Microsoft.Authorization/roleDefinitions",
                "properties": {"roleName": name, "type": "CustomRole", "description": "",
                               "assignableScopes": [f"/subscriptions/{subscription}"],
                               "permissions": [{"actions": list(actions), "notActions": list(not_actions),
                                                "dataActions": list(data_actions), "notDataActions": []}]}}
        return role_id

    def assign(self, role_id: str, principal: str, scope: str) -> None:
        name = str(uuid.uuid4())
        with self._lock:
            self._assignments.append({
                "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}", "name": name,
                "type": "Microsoft.Authorization/roleAssignments",
                "properties": {"roleDefinitionId": role_id, "principalId": principal,
                               "principalType": "ServicePrincipal", "scope": scope}})

    def route(self, request: Request, base_url: str, page_size: int) -> Response | None:
        """The answer for a path of these resources, or None for any other path. Lists come ``page_size`` items a
        page, with a ``nextLink`` on ``base_url`` while more follow."""
        path = request.path.rstrip("/")
        if _SITE.match(path):
            return self._answer(request, WEB_API, lambda: self._site(path))
        if match := _ASSIGNMENTS.match(path):
            principal_filter = query_value(request.query, "$filter")
            first = f"{base_url}{path}?api-version={AUTHORIZATION_API}"
            if principal_filter is not None:
                first += f"&$filter={quote(principal_filter)}"
            return self._answer(request, AUTHORIZATION_API, lambda: self._list(
                match["scope"] or "/", principal_filter, query_value(request.query, "$skipToken"), page_size, first))
        if _DEFINITION.match(path):
            return self._answer(request, AUTHORIZATION_API, lambda: self._definition(path))
        return None

    def _answer(self, request: Request, api_version: str, answer: Any) -> Response:
        if request.method != "GET":
            return _error(405, "MethodNotAllowed", f"{request.method} is not served here")
        if query_value(request.query, "api-version") != api_version:
            return _error(400, "InvalidApiVersionParameter", f"api-version {api_version} is required")
        result: Response = answer()
        return result

    def _site(self, path: str) -> Response:
        with self._lock:
            site = self._sites.get(path.lower())
        if site is None:
            return _error(404, "ResourceNotFound", f"The Resource '{path}' was not found")
        return Response(200, site)

    def _list(self, scope: str, principal_filter: str | None, skip: str | None, page_size: int,
              first: str) -> Response:
        match = _PRINCIPAL_FILTER.match(principal_filter or "")
        if principal_filter is not None and match is None:
            return _error(400, "InvalidFilterInQueryString", f"The filter '{principal_filter}' is not supported")
        scope = scope.rstrip("/").lower()
        with self._lock:
            value = [a for a in self._assignments
                     if (match is None or a["properties"]["principalId"] == match["id"])
                     and _related(a["properties"]["scope"].lower(), scope, below=match is not None)]
        page = list_page(value, skip, page_size, first)
        return Response(200, page) if page is not None else _error(400, "InvalidSkipToken",
                                                                   f"The $skipToken '{skip}' is not valid")

    def _definition(self, path: str) -> Response:
        with self._lock:
            role = self._definitions.get(path.lower())
        if role is None:
            return _error(404, "RoleDefinitionDoesNotExist", "The specified role definition does not exist.")
        return Response(200, role)


def _related(assigned: str, scope: str, *, below: bool) -> bool:
    """At or above the scope; with a principal filter, below it too (ARM's documented answer)."""
    def under(child: str, parent: str) -> bool:
        return parent in ("", child) or child.startswith(parent + "/")

    return under(scope, assigned.rstrip("/")) or (below and under(assigned, scope))


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})

