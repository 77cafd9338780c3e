"""``doctor --app``: the Function App's own identity and the roles it holds, read through ARM.

The operator running ``doctor`` is not the identity that reads runs and writes lineage: the app's managed identity
is. Probing with the operator's sign-in reports the operator's roles, which a healthy deployment never grants (and
an unhealthy one may grant the operator only). So the app's principal is read from its resource, its role
assignments are listed, and each permission the app uses is looked for in the roles assigned at or above the
resource it is used on. Purview's Data Curator is a collection role that ARM does not hold: ``--write-probe`` run as
the app, or the post-deploy hook's output, shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.cli.checks import Check
from lineage.extract.runrecord import FactoryId

APP_SETTING = "LINEAGE_FUNCTION_APP_ID"
WEB_API = "2023-12-01"
AUTHORIZATION_API = "2022-04-01"
FACTORY_ACTIONS = tuple(f"Microsoft.DataFactory/factories/{action}" for action in (
    "read", "pipelines/read", "datasets/read", "linkedservices/read", "dataflows/read", "globalParameters/read",
    "pipelineruns/read", "pipelineruns/queryactivityruns/action", "querypipelineruns/action"))
QUEUE_DATA_ACTIONS = tuple(f"Microsoft.Storage/storageAccounts/queueServices/queues/messages/{action}" for action in (
    "read", "write", "delete", "add/action", "process/action"))
FACTORY_FIX = ("assign the custom role of infra/modules/factory-reader-role.bicep to the app's identity on the "
               "factory (azd provision does, for each factory of FACTORY_IDS)")
QUEUE_FIX = "assign Storage Queue Data Contributor to the app's identity on its storage account (infra/ does)"


_APP_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Web/sites/[^/]+", re.IGNORECASE)


def app_id(text: str) -> str:
    """A Function App's resource id, as --app and LINEAGE_FUNCTION_APP_ID take it; ValueError saying the form."""
    if not _APP_ID.fullmatch(text.strip().rstrip("/")):
        raise ValueError(f"{text[:200]!r} is not a Function App's resource id: "
                         "/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Web/sites/<name> "
                         "(az functionapp show -n <name> -g <rg> --query id)")
    return text.strip().rstrip("/")


def app_checks(reader: DataFactoryReader, app_id: str, factories: Sequence[FactoryId], storage_account: str | None,
               client_id: str | None = None) -> list[Check]:
    """The app's identity, then its roles on each factory and on its storage account."""
    name = app_id.rstrip("/").rsplit("/", 1)[-1]
    try:
        site = reader.resource("Function App", app_id, WEB_API)
    except DataFactoryError as exc:
        return [_unreadable(f"Function App {name}", exc, "check --app / LINEAGE_FUNCTION_APP_ID: the app's resource "
                                                        "id, /subscriptions/.../providers/Microsoft.Web/sites/<name>")]
    principal = principal_of(site, client_id)
    if principal is None:
        which = f"user-assigned identity with client id {client_id}" if client_id else "system-assigned identity"
        return [Check("app identity", f"{name}: managed identity", False, f"the app has no {which}",
                      "turn the identity on (infra/ does) or correct AZURE_CLIENT_ID")]
    checks = [Check("app identity", f"{name}: managed identity", True, f"principal {principal}")]
    subscription = "/".join(app_id.strip("/").split("/")[:2])
    try:
        listed = reader.listed("role assignments", f"/{subscription}/providers/Microsoft.Authorization/"
                               "roleAssignments", AUTHORIZATION_API, {"$filter": f"principalId eq '{principal}'"})
        assignments = [a.get("properties") or {} for a in listed]
        roles = _Roles(reader)
        for factory in factories:
            missing = roles.missing(assignments, factory.resource_id, FACTORY_ACTIONS, data=False)
            checks.append(_held(f"{name} on {factory.factory_name}", missing, FACTORY_FIX))
        if storage_account:
            resource_group = "/".join(app_id.strip("/").split("/")[:4])
            # The storage account is in the app's resource group, as infra/ deploys it: an assignment on the
            # account itself, its resource group or the subscription covers it.
            scope = f"/{resource_group}/providers/Microsoft.Storage/storageAccounts/{storage_account}"
            missing = roles.missing(assignments, scope, QUEUE_DATA_ACTIONS, data=True, named=storage_account)
            checks.append(_held(f"{name} on storage {storage_account}", missing, QUEUE_FIX))
    except DataFactoryError as exc:
        checks.append(_unreadable(f"{name}: role assignments", exc, "sign in with Reader (roleAssignments/read) "
                                                                    "on the subscription, or ask someone who has it"))
    return checks


def principal_of(site: Mapping[str, Any], client_id: str | None = None) -> str | None:
    """The object id the app's tokens carry: the user-assigned identity of AZURE_CLIENT_ID, else the system one."""
    identity = site.get("identity")
    if not isinstance(identity, Mapping):
        return None
    if client_id:
        assigned = identity.get("userAssignedIdentities")
        for entry in assigned.values() if isinstance(assigned, Mapping) else []:
            if isinstance(entry, Mapping) and str(entry.get("clientId", "")).lower() == client_id.lower():
                return str(entry.get("principalId"))
        return None
    principal = identity.get("principalId")
    return str(principal) if principal else None


class _Roles:
    """Role definitions, each read once, and the permissions the assignments at or above a scope grant."""

    def __init__(self, reader: DataFactoryReader) -> None:
        self._reader = reader
        self._permissions: dict[str, list[Mapping[str, Any]]] = {}

    def missing(self, assignments: Iterable[Mapping[str, Any]], scope: str, needed: Sequence[str], *, data: bool,
                named: str | None = None) -> list[str]:
        blocks = [block for a in assignments if _covers(str(a.get("scope", "")), scope, named)
                  for block in self._of(str(a.get("roleDefinitionId", "")))]
        allowed, denied = ("dataActions", "notDataActions") if data else ("actions", "notActions")
        return [action for action in needed
                if not any(_matches(action, b.get(allowed)) and not _matches(action, b.get(denied)) for b in blocks)]

    def _of(self, role_id: str) -> list[Mapping[str, Any]]:
        if role_id not in self._permissions:
            body = self._reader.resource("role definition", role_id, AUTHORIZATION_API)
            permissions = (body.get("properties") or {}).get("permissions")
            self._permissions[role_id] = [p for p in permissions or [] if isinstance(p, Mapping)]
        return self._permissions[role_id]


def _covers(assigned: str, scope: str, named: str | None) -> bool:
    """An assignment applies at its scope and below; ARM compares resource ids without case."""
    assigned, scope = assigned.rstrip("/").lower(), scope.lower()
    if named is not None and assigned.endswith(f"/storageaccounts/{named.lower()}"):
        return True
    return assigned in ("", scope) or scope.startswith(assigned + "/")


def _matches(action: str, patterns: Any) -> bool:
    return any(fnmatchcase(action.lower(), str(p).lower()) for p in patterns or [])


def _held(name: str, missing: list[str], fix: str) -> Check:
    if missing:
        return Check("app identity", name, False, "no role grants " + ", ".join(missing), fix)
    return Check("app identity", name, True, "every permission the app uses is granted")


def _unreadable(name: str, exc: DataFactoryError, fix: str) -> Check:
    if exc.status == 404:
        return Check("app identity", name, False, "not found", fix)
    if exc.status == 403:
        return Check("app identity", name, False, "your sign-in may not read it", fix)
    return Check("app identity", name, False, str(exc), "check DATAFACTORY_ENDPOINT and that this machine can reach "
                                                        "Azure Resource Manager")
