"""Offline checks of the deployment: infra/*.bicep, infra/main.parameters.json, azure.yaml and the post-deploy hook.

There is no Azure and no Bicep compiler here: every template is parsed with pycep-parser and what the service needs
is checked on the parsed tree, and the app settings are cross-checked against the settings the code reads.
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib.util
import json
import os
import re
import shutil
import subprocess
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from azure.core.credentials import AccessToken
from pycep import BicepParser

from lineage.azure import queues
from lineage.service import events

ROOT = Path(__file__).resolve().parent.parent
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
SUBSCRIPTION = INFRA / "subscription.bicep"
HOOKS = INFRA / "hooks"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

ROLE = {
    "Storage Blob Data Owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Queue Data Contributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "Storage Queue Data Reader": "19e7f393-937e-4f77-808e-94535e297925",
    "Storage Table Data Contributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "EventGrid Data Sender": "d5a91429-5739-47e2-a06b-3470a27159e7",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
}
FACTORY_READER_ACTIONS = {
    "Microsoft.DataFactory/factories/read",
    "Microsoft.DataFactory/factories/pipelines/read",
    "Microsoft.DataFactory/factories/datasets/read",
    "Microsoft.DataFactory/factories/linkedservices/read",
    "Microsoft.DataFactory/factories/dataflows/read",
    "Microsoft.DataFactory/factories/globalParameters/read",
    "Microsoft.DataFactory/factories/pipelineruns/read",
    "Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action",
    "Microsoft.DataFactory/factories/querypipelineruns/action",
}
# Every app setting the templates must set (the code's, and the Functions host's own).
REQUIRED_SETTINGS = {
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__queueServiceUri",
    "LINEAGE_QUEUE_NAME",
    "PURVIEW_ACCOUNT_NAME",
    "PURVIEW_ENDPOINT",  # empty unless the purviewEndpoint parameter names the tenant-level endpoint
    "DATAFACTORY_ENDPOINT",
    "LINEAGE_SETTINGS",
    "LINEAGE_MAX_DEQUEUE_COUNT",
    "LINEAGE_MAX_WAITS",
    "LINEAGE_WAIT_SECONDS",
    "LINEAGE_FACTORIES",
    "LINEAGE_RECONCILE_SCHEDULE",
    "LINEAGE_RECONCILE_WINDOW_MINUTES",
    "LINEAGE_PRUNE",
    "LINEAGE_PRUNE_SCHEDULE",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# Settings the code reads that a deployment of these templates leaves unset on purpose.
NOT_SET_IN_AZURE = {
    "AzureWebJobsStorage": "connection string: Azurite only; in Azure the identity-based settings above",
    "AZURE_CLIENT_ID": "only for a user-assigned identity; the app uses its system-assigned one",
    "LINEAGE_ALLOWED_HOST_SUFFIXES": "only for a cloud or private zone beyond the built-in Azure host suffixes",
}
# Settings the Functions host itself reads; no code of ours does.
HOST_SETTINGS = {"AzureWebJobsStorage__accountName", "APPLICATIONINSIGHTS_CONNECTION_STRING",
                 "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}


# --- parsing helpers -------------------------------------------------------------------------------------------------

@functools.cache
def parsed(path: Path) -> dict[str, Any]:
    return dict(BicepParser().parse(file_path=path))


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource's or module's own properties, whether it is plain, conditional (``if``) or a loop (``for``)."""
    config: dict[str, Any] = resource["config"]
    if "loop_type" in config or ("condition" in config and isinstance(config.get("config"), dict)):
        return dict(config["config"])
    return config


def declared(resource_type: str, path: Path | None = None) -> list[tuple[Path, str, dict[str, Any]]]:
    """(file, symbol, resource) of every resource of that type (not ``existing`` references)."""
    found = []
    for file in [path] if path else BICEP_FILES:
        for symbol, resource in parsed(file).get("resources", {}).items():
            if resource["type"] == resource_type and not resource["existing"]:
                found.append((file, symbol, resource))
    return found


def one(resource_type: str, path: Path | None = None) -> dict[str, Any]:
    found = declared(resource_type, path)
    assert len(found) == 1, f"expected one {resource_type}, found {[s for _, s, _ in found]}"
    return body(found[0][2])


def dotted(expr: Any) -> str:
    """An expression as Bicep text, for accessors: ``functionApp.identity.principalId``, ``factoryAccess[i]...``."""
    if isinstance(expr, dict) and "operator" in expr:
        op = expr["operator"]
        left, right = op["operands"]["operand_1"], op["operands"]["operand_2"]
        if op["type"] == "property_accessor":
            return f"{dotted(left)}.{dotted(right)}"
        if op["type"] == "index_accessor":
            return f"{dotted(left)}[{dotted(right)}]"
    if isinstance(expr, dict) and "function" in expr:
        return f"{expr['function']['type']}(...)"
    return str(expr)


def resolve(expr: Any, variables: dict[str, Any]) -> Any:
    """A variable's value (``roles.storageBlobDataOwner`` → the GUID); anything else as it is."""
    text = dotted(expr)
    head, _, rest = text.partition(".")
    if head in variables:
        value = variables[head]["value"]
        for key in filter(None, rest.split(".")):
            value = value[key]
        return value
    return expr


def role_assignments() -> list[dict[str, Any]]:
    """Every role assignment: its file, symbol, role GUID (or the custom role's parameter), scope and principal."""
    found = []
    for path, symbol, resource in declared("Microsoft.Authorization/roleAssignments"):
        props = body(resource)
        definition = props["properties"]["roleDefinitionId"]["function"]
        assert definition["type"] == "subscription_resource_id", f"{symbol}: roleDefinitionId by subscriptionResourceId"
        assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        role = resolve(definition["parameters"]["resource_name_1"], parsed(path).get("variables", {}))
        found.append({"file": path.relative_to(INFRA).as_posix(), "symbol": symbol, "role": role,
                      "scope": dotted(props["scope"]), "principal": dotted(props["properties"]["principalId"]),
                      "name": props["name"], "loop": "loop_type" in resource["config"],
                      "principalType": props["properties"].get("principalType")})
    return found


def names_of(resource: dict[str, Any], variables: dict[str, Any]) -> list[Any]:
    """The names a resource declares: one, or one per item of the array variable a loop runs over."""
    loop = resource["config"].get("loop_type")
    name = body(resource)["name"]
    if loop and loop["detail"].get("item_name") == name:
        return list(variables[loop["detail"]["array_name"]]["value"])
    return [resolve(name, variables)]


def app_settings() -> dict[str, Any]:
    settings = [body(r) for _, _, r in declared("Microsoft.Web/sites/config", MAIN)]
    assert [s["name"] for s in settings] == ["appsettings"]
    return dict(settings[0]["properties"])


def params(path: Path) -> dict[str, Any]:
    return dict(parsed(path).get("parameters", {}))


# --- what the code reads ---------------------------------------------------------------------------------------------

ENV_NAMES = {"env", "environ"}


def _is_env(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in ENV_NAMES
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def settings_read_by(path: Path) -> set[str]:
    """Names read from the environment in one module: ``env.get(X)``, ``env[X]``, ``os.environ.get(X)``,
    ``X in env``, where X is a string or a module-level string constant."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 for target in node.targets if isinstance(target, ast.Name)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}

    def name_of(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return constants.get(node.id)
        return None

    found: set[str] = set()
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and _is_env(node.func.value) and node.args:
            key = name_of(node.args[0])
        elif isinstance(node, ast.Subscript) and _is_env(node.value):
            key = name_of(node.slice)
        elif isinstance(node, ast.Compare) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops) \
                and any(_is_env(c) for c in node.comparators):
            key = name_of(node.left)
        if key:
            found.add(key)
    return found


def settings_read_by_code() -> set[str]:
    """Every setting the product's code reads (all of ``lineage/`` but the local stand-ins), plus the ``%NAME%``
    binding expressions of ``function_app.py``."""
    names: set[str] = set()
    for path in sorted((ROOT / "lineage").rglob("*.py")):
        if "local" in path.relative_to(ROOT / "lineage").parts:
            continue
        names |= settings_read_by(path)
    names |= set(re.findall(r"%([A-Za-z_][A-Za-z0-9_]*)%", (ROOT / "function_app.py").read_text(encoding="utf-8")))
    return names


def log_formats(path: Path, level: str) -> list[str]:
    """The format strings of ``log.<level>(...)`` calls in one module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == level
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "log"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)]


# --- the templates parse ---------------------------------------------------------------------------------------------

def test_the_templates_are_all_there() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in BICEP_FILES}
    assert {"main.bicep", "subscription.bicep", "modules/factory-access.bicep",
            "modules/factory-reader-role.bicep"} <= names


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_template_parses_into_resources(path: Path) -> None:
    tree = parsed(path)
    assert tree.get("resources"), f"{path.name}: pycep found no resource"
    for symbol, resource in tree["resources"].items():
        assert re.fullmatch(r"[A-Za-z]+\.[A-Za-z]+/[A-Za-z/]+", resource["type"]), (symbol, resource["type"])
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", resource["api_version"]), (symbol, resource["api_version"])


def test_modules_exist_and_are_deployed_where_their_resources_live() -> None:
    modules = parsed(MAIN)["modules"]
    for symbol, module in modules.items():
        target = MAIN.parent / module["detail"]["path"]
        assert target.is_file(), f"module {symbol}: {target} is missing"
    access = modules["factoryAccess"]
    assert access["config"]["loop_type"]["detail"]["array_name"] == "factoryIds"
    scope = body(access)["scope"]["function"]
    assert scope["type"] == "resource_group"  # the factory's own resource group, in the factory's subscription
    assert "split(...)[2]" in dotted(scope["parameters"]["subscription_id"])
    assert "split(...)[4]" in dotted(scope["parameters"]["resource_group_name"])
    assert parsed(INFRA / "modules/factory-access.bicep")["globals"]["scope"]["value"] == "resourceGroup"
    role = modules["readerRole"]
    assert body(role)["scope"]["function"]["type"] == "subscription"
    assert parsed(INFRA / "modules/factory-reader-role.bicep")["globals"]["scope"]["value"] == "subscription"
    # The module's parameters are exactly what main.bicep passes.
    for symbol, path in (("factoryAccess", "modules/factory-access.bicep"),
                         ("readerRole", "modules/factory-reader-role.bicep")):
        assert set(body(modules[symbol])["params"]) == set(params(INFRA / path)), symbol


# --- the resources the service needs ---------------------------------------------------------------------------------

NEEDED_TYPES = {
    "Microsoft.Storage/storageAccounts", "Microsoft.Storage/storageAccounts/blobServices/containers",
    "Microsoft.Storage/storageAccounts/queueServices/queues", "Microsoft.OperationalInsights/workspaces",
    "Microsoft.Insights/components", "Microsoft.Web/serverfarms", "Microsoft.Web/sites", "Microsoft.Web/sites/config",
    "Microsoft.EventGrid/topics", "Microsoft.EventGrid/topics/eventSubscriptions",
    "Microsoft.Authorization/roleDefinitions", "Microsoft.Authorization/roleAssignments",
    "Microsoft.Insights/scheduledQueryRules", "Microsoft.Insights/metricAlerts",
}


def test_every_resource_type_the_service_needs_is_declared() -> None:
    types = {r["type"] for path in BICEP_FILES for r in parsed(path)["resources"].values() if not r["existing"]}
    assert not NEEDED_TYPES - types, sorted(NEEDED_TYPES - types)


def test_function_app_is_flex_consumption_python_311_with_its_own_identity() -> None:
    app = one("Microsoft.Web/sites", MAIN)
    assert app["kind"] == "functionapp,linux"
    assert app["identity"] == {"type": "SystemAssigned"}
    config = app["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    storage = config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {"type": "SystemAssignedIdentity"}  # no connection string for the package
    container = parsed(MAIN)["variables"]["deploymentContainerName"]["value"]
    assert storage["value"].endswith("${deploymentContainerName}")
    containers = {body(r)["name"] for _, _, r in declared("Microsoft.Storage/storageAccounts/blobServices/containers")}
    assert container in {resolve(c, parsed(MAIN)["variables"]) for c in containers}
    plan = one("Microsoft.Web/serverfarms", MAIN)
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux
    assert app["properties"]["serverFarmId"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "plan", "operand_2": "id"}}}
    policies = {body(r)["name"]: body(r)["properties"]["allow"]
                for _, _, r in declared("Microsoft.Web/sites/basicPublishingCredentialsPolicies", MAIN)}
    assert policies == {"ftp": False, "scm": False}


def test_storage_is_identity_only_with_both_queues_and_its_containers() -> None:
    account = one("Microsoft.Storage/storageAccounts", MAIN)
    assert account["properties"]["allowSharedKeyAccess"] is False
    assert account["properties"]["allowBlobPublicAccess"] is False
    names = sorted(body(r)["name"] for _, _, r in declared("Microsoft.Storage/storageAccounts/queueServices/queues"))
    assert names == [queues.DEFAULT_QUEUE, queues.DEFAULT_QUEUE + queues.POISON_SUFFIX]
    assert names == ["adf-lineage-runs", "adf-lineage-runs-poison"]
    variables = parsed(MAIN)["variables"]
    containers = {name for _, _, r in declared("Microsoft.Storage/storageAccounts/blobServices/containers", MAIN)
                  for name in names_of(r, variables)}
    # The Functions host's own containers are declared too, so that its blob role can name them one by one.
    assert containers == {"app-package", "eventgrid-deadletter", "azure-webjobs-hosts", "azure-webjobs-secrets"}


def test_event_grid_topic_takes_event_grid_schema_from_entra_identities_only() -> None:
    topic = one("Microsoft.EventGrid/topics", MAIN)
    assert topic["properties"]["inputSchema"] == "EventGridSchema"
    assert topic["properties"]["disableLocalAuth"] is True
    assert topic["properties"]["minimumTlsVersionAllowed"] == "1.2"  # the default still takes TLS 1.0 and 1.1
    assert topic["identity"] == {"type": "SystemAssigned"}  # dead-letters with its own identity
    [(_, _, resource)] = declared("Microsoft.EventGrid/topics", MAIN)
    assert resource["api_version"] >= "2023-06-01"  # the first version that has minimumTlsVersionAllowed


def test_application_insights_takes_entra_tokens_only() -> None:
    insights = one("Microsoft.Insights/components", MAIN)
    assert insights["properties"]["DisableLocalAuth"] is True
    assert dotted(insights["properties"]["WorkspaceResourceId"]) == "logAnalytics.id"
    assert app_settings()["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"


def test_custom_role_has_exactly_the_read_actions_and_nothing_else() -> None:
    role = one("Microsoft.Authorization/roleDefinitions")
    assert role["properties"]["type"] == "CustomRole"
    [permissions] = role["properties"]["permissions"]
    assert set(permissions["actions"]) == FACTORY_READER_ACTIONS
    assert len(permissions["actions"]) == len(FACTORY_READER_ACTIONS)
    assert not any(a.endswith(("/write", "/delete", "*")) for a in permissions["actions"])
    assert permissions.get("dataActions", []) == []
    assert permissions.get("notActions", []) == []


def test_role_assignments_are_the_least_each_identity_needs() -> None:
    assignments = role_assignments()
    got = {(a["role"], a["scope"], a["principal"]) for a in assignments if a["file"] == "main.bicep"}
    app = "functionApp.identity.principalId"
    assert got == {
        (ROLE["Storage Blob Data Owner"], "deploymentContainer", app),  # the package, not the whole account
        (ROLE["Storage Blob Data Owner"], "hostContainers[i]", app),  # the host's leases and keys
        (ROLE["Storage Queue Data Contributor"], "storage", app),
        (ROLE["Storage Table Data Contributor"], "ledgerTable", app),  # the run ledger's table, nothing more
        (ROLE["Storage Table Data Contributor"], "ledgerTable", "principalId"),  # `status`, replay/purge rows
        (ROLE["Monitoring Metrics Publisher"], "appInsights", app),
        (ROLE["Storage Blob Data Contributor"], "deadLetterContainer", "topic.identity.principalId"),
        (ROLE["EventGrid Data Sender"], "topic", "factoryAccess[i].outputs.principalId"),
        (ROLE["Storage Queue Data Contributor"], "storage", "principalId"),  # the operator, when given
        (ROLE["Storage Queue Data Reader"], "poisonQueue", "reader"),  # operators who only list and show poison
    }
    # The host's blob role runs over the host's own containers and no other.
    [host_blobs] = [a for a in assignments if a["scope"] == "hostContainers[i]"]
    assert host_blobs["loop"]
    loop = parsed(MAIN)["resources"][host_blobs["symbol"]]["config"]["loop_type"]["detail"]
    assert parsed(MAIN)["variables"][loop["array_name"]]["value"] == ["azure-webjobs-hosts", "azure-webjobs-secrets"]
    [readers] = [a for a in assignments if a["principal"] == "reader"]
    assert readers["loop"] and "poisonReaderIds" in json.dumps(parsed(MAIN)["resources"][readers["symbol"]]["config"])
    # EventGrid Data Sender is granted once per factory: a loop over the factories.
    [sender] = [a for a in assignments if a["role"] == ROLE["EventGrid Data Sender"]]
    assert sender["loop"]
    # On each factory: the custom role, to the app, on that factory alone.
    [reader] = [a for a in assignments if a["file"] == "modules/factory-access.bicep"]
    assert (reader["role"], reader["scope"], reader["principal"]) == ("readerRoleGuid", "factory", "appPrincipalId")
    # Nothing broad (Owner, Contributor, User Access Administrator, Reader) anywhere.
    builtin = {a["role"] for a in assignments} - {"readerRoleGuid"}
    assert builtin <= set(ROLE.values())
    for a in assignments:
        # Deterministic names: a redeploy updates in place and never duplicates an assignment.
        assert a["name"]["function"]["type"] == "guid", a["symbol"]
        if a["principal"] not in ("principalId", "reader"):  # people (or groups) may be named there
            assert a["principalType"] == "ServicePrincipal", a["symbol"]


def test_the_factory_module_reads_the_factory_identity_through_an_existing_reference() -> None:
    path = INFRA / "modules/factory-access.bicep"
    tree = parsed(path)
    factory = tree["resources"]["factory"]
    assert factory["type"] == "Microsoft.DataFactory/factories"
    assert factory["existing"] is True
    assert dotted(tree["outputs"]["principalId"]["value"]) == "factory.identity.principalId"
    assert dotted(body(parsed(MAIN)["resources"]["factoryEventSender"])["properties"]["principalId"]) \
        == "factoryAccess[i].outputs.principalId"


def test_event_subscription_delivers_one_event_at_a_time_to_on_run_completed_and_dead_letters_the_rest() -> None:
    sub = one("Microsoft.EventGrid/topics/eventSubscriptions", SUBSCRIPTION)
    assert sub["parent"] == "topic"
    props = sub["properties"]
    destination = props["destination"]
    assert destination["endpointType"] == "AzureFunction"
    assert destination["properties"]["resourceId"] == "${functionApp.id}/functions/on_run_completed"
    assert destination["properties"]["maxEventsPerBatch"] == 1
    assert props["retryPolicy"] == {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}
    assert props["filter"]["includedEventTypes"] == [events.EVENT_TYPE]
    dead_letter = props["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"
    assert dead_letter["deadLetterDestination"]["properties"]["blobContainerName"] == "deadLetterContainerName"
    assert params(SUBSCRIPTION)["deadLetterContainerName"]["default"] \
        == parsed(MAIN)["variables"]["deadLetterContainerName"]["value"]
    # The function it names is the Event Grid trigger of function_app.py.
    source = (ROOT / "function_app.py").read_text(encoding="utf-8")
    assert re.search(r'@app\.function_name\("on_run_completed"\)\s*\n@app\.event_grid_trigger\(', source)
    # The existing resources it refers to are the ones main.bicep creates.
    existing = {r["type"] for r in parsed(SUBSCRIPTION)["resources"].values() if r["existing"]}
    assert existing == {"Microsoft.EventGrid/topics", "Microsoft.Web/sites", "Microsoft.Storage/storageAccounts"}
    assert not declared("Microsoft.EventGrid/topics/eventSubscriptions", MAIN)  # cannot exist before the code


def test_poisoned_runs_alert_on_the_exact_log_lines_the_code_writes() -> None:
    rule = one("Microsoft.Insights/scheduledQueryRules", MAIN)
    props = rule["properties"]
    assert props["scopes"] == [{"operator": {"type": "property_accessor",
                                             "operands": {"operand_1": "appInsights", "operand_2": "id"}}}]
    [criterion] = props["criteria"]["allOf"]
    query = criterion["query"]
    assert criterion["operator"] == "GreaterThan"
    assert criterion["threshold"] == 0
    assert query.lstrip().startswith("traces")
    literals = re.findall(r'"([^"]+)"', query)
    worker_errors = log_formats(ROOT / "lineage/service/worker.py", "error")
    service_errors = log_formats(ROOT / "lineage/service/wiring.py", "error")
    startswith = re.findall(r'message startswith "([^"]+)"', query)
    assert startswith
    for prefix in startswith:  # each prefix is how a poison line of the worker begins
        assert any(f.startswith(prefix) for f in worker_errors), (prefix, worker_errors)
    has = [h for h in re.findall(r'message has "([^"]+)"', query) if h != "adf-lineage-runs-poison"]
    for fragment in has:  # ... and the rejected-event line of the event handler
        assert any(fragment in f for f in service_errors), (fragment, service_errors)
    assert "adf-lineage-runs-poison" in literals  # the host names the queue when it moves a message itself
    # Not a metric alert on QueueMessageCount: that metric is account-wide and counts the work queue's backlog too.
    metric_names = [c["metricName"] for _, _, r in declared("Microsoft.Insights/metricAlerts")
                    for c in body(r)["properties"]["criteria"]["allOf"]]
    assert "QueueMessageCount" not in metric_names
    assert metric_names == ["DeadLetteredCount"]  # per topic: exact
    [(_, _, dead)] = declared("Microsoft.Insights/metricAlerts")
    assert [dotted(s) for s in body(dead)["properties"]["scopes"]] == ["topic.id"]


# --- app settings against the code -----------------------------------------------------------------------------------

def test_the_settings_scan_finds_what_the_code_reads() -> None:
    # Direct reads, f-string subscripts, and a read through a module constant (lineage/azure/queues.py QUEUE_SETTING).
    read = settings_read_by_code()
    assert {"PURVIEW_ACCOUNT_NAME", "PURVIEW_ENDPOINT", "AzureWebJobsStorage__queueServiceUri",
            "AzureWebJobsStorage", "LINEAGE_QUEUE_NAME", "AZURE_CLIENT_ID"} <= read
    assert settings_read_by(ROOT / "lineage/azure/queues.py") >= {"LINEAGE_QUEUE_NAME"}


def test_templates_set_every_required_setting_and_no_connection_string() -> None:
    settings = app_settings()
    missing = REQUIRED_SETTINGS - set(settings)
    assert not missing, sorted(missing)
    assert "AzureWebJobsStorage" not in settings  # a connection string: local (Azurite) only
    assert "AzureWebJobsStorage__credential" not in settings  # system-assigned identity needs none
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings  # Flex Consumption takes the runtime from functionAppConfig


def test_every_setting_the_code_reads_is_set_or_deliberately_left_out() -> None:
    settings = set(app_settings())
    missing = settings_read_by_code() - settings - set(NOT_SET_IN_AZURE)
    assert not missing, f"the code reads settings the templates do not set: {sorted(missing)}"
    assert not set(NOT_SET_IN_AZURE) & settings


def test_the_code_reads_every_lineage_setting_the_templates_set() -> None:
    # Both directions for our own settings: a LINEAGE_* setting nobody reads is a typo or a leftover.
    read = settings_read_by_code()
    unread = {s for s in app_settings() if s.startswith("LINEAGE_")} - read
    assert not unread, f"the templates set settings no code reads: {sorted(unread)}"
    ours = set(app_settings()) - HOST_SETTINGS
    assert ours <= read, sorted(ours - read)


def test_setting_values_agree_with_the_resources_and_host_json() -> None:
    settings = app_settings()
    variables = parsed(MAIN)["variables"]
    assert dotted(settings["LINEAGE_QUEUE_NAME"]) == "workQueue.name"
    assert dotted(settings["AzureWebJobsStorage__accountName"]) == "storage.name"
    assert dotted(settings["AzureWebJobsStorage__queueServiceUri"]) == "storage.properties.primaryEndpoints.queue"
    assert dotted(settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]) == "appInsights.properties.ConnectionString"
    host = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    assert settings["LINEAGE_MAX_DEQUEUE_COUNT"] == str(host["extensions"]["queues"]["maxDequeueCount"])
    assert int(settings["LINEAGE_MAX_WAITS"]) > 0
    assert int(settings["LINEAGE_WAIT_SECONDS"]) > 0
    # DATAFACTORY_ENDPOINT: the cloud's Resource Manager, without its trailing slash.
    assert settings["DATAFACTORY_ENDPOINT"] == "dataFactoryEndpoint"
    endpoint = variables["dataFactoryEndpoint"]["value"]["operator"]
    assert endpoint["type"] == "conditional"
    assert endpoint["operands"]["condition"]["function"]["type"] == "ends_with"
    assert dotted(variables["armEndpoint"]["value"]) == "environment(...).resourceManager"
    # JSON-valued settings are serialized from typed parameters.
    assert settings["LINEAGE_FACTORIES"]["function"] == {"type": "string",
                                                      "parameters": {"value_to_convert": "factoryIds"}}
    assert settings["LINEAGE_SETTINGS"] == "lineageSettingsJson"
    fallback = variables["lineageSettingsJson"]["value"]["operator"]["operands"]
    assert fallback["condition"]["function"] == {"type": "empty", "parameters": {"item_to_test": "lineageSettings"}}
    assert fallback["true_value"]["function"]["type"] == "load_text_content"
    main = params(MAIN)
    assert main["factoryIds"]["type"] == "array"
    assert main["lineageSettings"] == {"decorators": main["lineageSettings"]["decorators"], "type": "string",
                                       "default": ""}
    assert main["reconcileSchedule"]["default"] == "0 */15 * * * *"
    assert main["reconcileWindowMinutes"]["default"] == 120
    assert settings["PURVIEW_ACCOUNT_NAME"] == "purviewAccountName"


def test_the_lineage_settings_file_is_what_the_code_accepts() -> None:
    variables = parsed(MAIN)["variables"]
    loaded = variables["lineageSettingsJson"]["value"]["operator"]["operands"]["true_value"]["function"]
    path = MAIN.parent / loaded["parameters"]["file_path"]
    text = path.read_text(encoding="utf-8")
    assert isinstance(json.loads(text), dict)
    from lineage.service import wiring

    assert wiring.lineage_options({"LINEAGE_SETTINGS": text}) == wiring.lineage_options({})


# --- no key anywhere -------------------------------------------------------------------------------------------------

FORBIDDEN = ("listKeys", "listConnectionStrings", "AccountKey=", "SharedAccessSignature", "SharedAccessKey",
             "primaryKey", "aeg-sas-key", "storageAccountConnectionStringName", "StorageAccountConnectionString")


@pytest.mark.parametrize("path", [*BICEP_FILES, INFRA / "main.parameters.json", INFRA / "lineage-settings.json",
                                  ROOT / "azure.yaml",
                                  HOOKS / "postdeploy.sh", HOOKS / "grant_purview_curator.py"],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_key_sas_or_connection_string_is_used(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = [word for word in FORBIDDEN if word.lower() in text.lower()]
    assert not found, f"{path.name} uses {found}"


# --- azd -------------------------------------------------------------------------------------------------------------

def test_azure_yaml_deploys_the_app_and_runs_an_executable_postdeploy_hook() -> None:
    doc = yaml.safe_load((ROOT / "azure.yaml").read_text(encoding="utf-8"))
    assert doc["name"] == "adf-purview-lineage"
    assert doc["services"]["lineage"] == {"project": ".", "language": "python", "host": "function"}
    assert (ROOT / doc["services"]["lineage"]["project"] / "function_app.py").is_file()
    infra = doc["infra"]
    assert infra["provider"] == "bicep"
    assert (ROOT / infra["path"] / f"{infra['module']}.bicep") == MAIN
    assert (ROOT / infra["path"] / f"{infra['module']}.parameters.json").is_file()
    hook = doc["hooks"]["postdeploy"]["posix"]
    assert hook["shell"] == "sh"
    script = ROOT / hook["run"]
    assert script == HOOKS / "postdeploy.sh"
    assert script.is_file()
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert script.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    # azd tags the app with the service name to find it at deploy time.
    tags = one("Microsoft.Web/sites", MAIN)["tags"]["function"]["parameters"]["arg_2"]
    assert tags["'azd-service-name'"] == "lineage"


def test_azd_parameters_name_the_environment_values_and_match_main_bicep() -> None:
    doc = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))
    values = {name: p["value"] for name, p in doc["parameters"].items()}
    main = params(MAIN)
    assert set(values) <= set(main), sorted(set(values) - set(main))
    required = {name for name, p in main.items() if p.get("default") is None}
    assert required <= set(values), sorted(required - set(values))
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["purviewAccountName"] == "${PURVIEW_ACCOUNT_NAME}"
    assert re.fullmatch(r"\$\{FACTORY_IDS(=\[\])?\}", values["factoryIds"])
    for value in values.values():
        assert re.fullmatch(r"\$\{[A-Z_]+(=[^}]*)?\}", value), value  # every value comes from the azd environment


def test_azd_asks_for_the_alert_email_rather_than_deploying_alerts_that_notify_nobody() -> None:
    # azd prompts for a parameter only when it has no default in main.bicep and its environment value is unset
    # (an `=default` in main.parameters.json would silence the prompt too).
    assert params(MAIN)["alertEmail"].get("default") is None
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["alertEmail"] == {"value": "${ALERT_EMAIL}"}
    # the alerts do notify that address
    assert "alertEmail" in (INFRA / "main.bicep").read_text(encoding="utf-8").split("resource actionGroup", 1)[1]
    # and the deploy steps say so
    deploy = (ROOT / "README.md").read_text(encoding="utf-8").split("### 1. Deploy", 1)[1].split("### 2.", 1)[0]
    assert "azd env set ALERT_EMAIL" in deploy and "nobody is told" in deploy


def test_the_hook_passes_subscription_bicep_its_parameters_from_main_bicep_outputs() -> None:
    script = (HOOKS / "postdeploy.sh").read_text(encoding="utf-8")
    assert '--template-file "$root/infra/subscription.bicep"' in script
    assert "az deployment group create" in script
    passed = set(re.findall(r"(\w+)=\"\$", script.split("--parameters", 1)[1].split("--only-show-errors", 1)[0]))
    assert passed == set(params(SUBSCRIPTION))
    outputs = set(parsed(MAIN)["outputs"])
    needed = set(re.findall(r"^need (\w+)$", script, flags=re.MULTILINE))
    assert needed - {"AZURE_RESOURCE_GROUP"} <= outputs, sorted(needed - outputs)  # azd sets AZURE_RESOURCE_GROUP
    assert {"EVENTGRID_TOPIC_NAME", "AZURE_FUNCTION_APP_NAME", "STORAGE_ACCOUNT_NAME",
            "FUNCTION_APP_PRINCIPAL_ID"} <= needed
    assert "grant_purview_curator.py" in script
    assert "${PURVIEW_COLLECTION:-}" in script and "PURVIEW_COLLECTION:-$PURVIEW_ACCOUNT_NAME" not in script


def test_the_hook_is_valid_sh_and_stops_before_any_azure_call_without_its_settings(tmp_path: Path) -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh on this machine")
    script = HOOKS / "postdeploy.sh"
    subprocess.run([sh, "-n", str(script)], check=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}  # none of the azd variables
    done = subprocess.run([sh, str(script)], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("postdeploy: AZURE_RESOURCE_GROUP is not set"), done.stderr
    assert "postdeploy: on_run_completed" not in done.stdout


def _run_hook(tmp_path: Path, collections: str | None) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """The hook with every azd value set, a stand-in ``az`` that succeeds and a stand-in Python that records the
    grants it is asked for; returns the run and the grant script's argument lists."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh on this machine")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "grants"
    (bin_dir / "az").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "record-python").write_text(f'#!/bin/sh\nshift\necho "$*" >> {calls}\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": str(tmp_path),
           "AZURE_RESOURCE_GROUP": "rg", "EVENTGRID_TOPIC_NAME": "t", "AZURE_FUNCTION_APP_NAME": "f",
           "STORAGE_ACCOUNT_NAME": "s", "FUNCTION_APP_PRINCIPAL_ID": "app-oid", "PURVIEW_ACCOUNT_NAME": "contoso",
           "HOOK_PYTHON": str(bin_dir / "record-python")}
    if collections is not None:
        env["PURVIEW_COLLECTION"] = collections
    done = subprocess.run([sh, str(HOOKS / "postdeploy.sh")], env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    granted = [line.split() for line in calls.read_text().splitlines()] if calls.exists() else []
    return done, granted


def test_the_hook_grants_data_curator_on_each_named_collection_and_never_on_the_root_by_default(
        tmp_path: Path) -> None:
    done, granted = _run_hook(tmp_path / "none", None)
    assert done.returncode == 0, done.stderr
    # only the collections the lineage settings map; not the root collection behind the operator's back
    assert [g[g.index("--settings") + 1] for g in granted] == [str(ROOT / "infra" / "lineage-settings.json")]
    assert not any("--collection" in g for g in granted)
    assert "PURVIEW_COLLECTION is not set: no Purview role granted beyond the collections the lineage" in done.stderr
    done, granted = _run_hook(tmp_path / "two", "k3x9qa, finance1")
    assert done.returncode == 0, done.stderr
    assert [g[g.index("--collection") + 1] for g in granted if "--collection" in g] == ["k3x9qa", "finance1"]
    assert len(granted) == 3 and all(g[g.index("--object-id") + 1] == "app-oid" for g in granted)


def test_the_grant_covers_exactly_the_collections_the_mapping_can_send_lineage_to(
        curator: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lineage.extract.collection_map import Collections

    mapping = {"default": "shared1", "factories": {"/subscriptions/s/resourceGroups/rg/providers/Microsoft."
                                                   "DataFactory/factories/f": "sales1"},
               "resourceGroups": {"/subscriptions/s/resourceGroups/fin": "fin1"}, "subscriptions": {"s2": "sub1"},
               "namePatterns": [{"pattern": "hr-*", "collection": "hr1"}, {"pattern": "x*", "collection": "sales1"}]}
    assert curator.mapped_collections({"collections": mapping}) == Collections.from_setting(mapping).named() == [
        "fin1", "hr1", "sales1", "shared1", "sub1"]
    assert curator.mapped_collections({}) == [] == Collections.from_setting(None).named()
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"emitFailedActivities": False}))
    assert curator.main(["--account", "contoso", "--object-id", "app-oid", "--settings", str(settings)]) == 0
    assert "maps no collections: nothing granted from it" in capsys.readouterr().out
    settings.write_text(json.dumps({"collections": {"default": ""}}))
    assert curator.main(["--account", "contoso", "--object-id", "app-oid", "--settings", str(settings)]) == 2
    assert "not a non-empty string" in capsys.readouterr().err


def test_the_grant_script_has_no_default_collection(curator: ModuleType, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PURVIEW_COLLECTION", raising=False)
    assert curator.main(["--account", "contoso", "--object-id", "app-oid"]) == 2
    assert "it is not the default" in capsys.readouterr().err
    assert curator.main(["--account", "contoso", "--object-id", "app-oid", "--collection", "a,b"]) == 2


# --- the Purview Data Curator grant ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def curator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grant_purview_curator", HOOKS / "grant_purview_curator.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


APP = "0f9e8d7c-6b5a-4c3d-8e2f-1a2b3c4d5e6f"
ADMIN = "11111111-2222-4333-8444-555555555555"
CURATOR = "99999999-8888-4777-8666-555555555555"
GROUP = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"


def _role_rule(role: str, collection: str, members: list[str], parent: str | None) -> dict[str, Any]:
    derived = {"fromRule": f"purviewmetadatarole_builtin_{role}", "attributeName": "derived.purview.role",
               "attributeValueIncludes": f"purviewmetadatarole_builtin_{role}"}
    clauses: list[list[dict[str, Any]]] = [
        [{"attributeName": "principal.microsoft.id", "attributeValueIncludedIn": members}, derived],
        [derived, {"attributeName": "principal.microsoft.groups", "attributeValueIncludedIn": [GROUP]}],
    ]
    if parent:
        inherited = f"purviewmetadatarole_builtin_{role}:{parent}"
        clauses.append([{"fromRule": inherited, "attributeName": "derived.purview.permission",
                         "attributeValueIncludes": inherited}])
    rule_id = f"purviewmetadatarole_builtin_{role}:{collection}"
    return {"kind": "attributerule", "id": rule_id, "name": rule_id, "dnfCondition": clauses}


def make_policy(collection: str = "contosopurview", *, curators: bool = True,
                parent: str | None = None) -> dict[str, Any]:
    """A metadata policy shaped like the policy store's answers (API 2021-07-01-preview)."""
    rules = [_role_rule("collection-administrator", collection, [ADMIN], parent)]
    if curators:
        rules.append(_role_rule("data-curator", collection, [CURATOR], parent))
    rules.append({"kind": "attributerule", "id": f"permission:{collection}", "name": f"permission:{collection}",
                  "dnfCondition": [[{"fromRule": r["id"], "attributeName": "derived.purview.permission",
                                     "attributeValueIncludes": r["id"]}] for r in rules]})
    properties: dict[str, Any] = {
        "description": "",
        "decisionRules": [{"kind": "decisionrule", "effect": "Permit", "dnfCondition": [[
            {"attributeName": "resource.purview.collection", "attributeValueIncludes": collection},
            {"fromRule": f"permission:{collection}", "attributeName": "derived.purview.permission",
             "attributeValueIncludes": f"permission:{collection}"}]]}],
        "attributeRules": rules,
        "collection": {"type": "CollectionReference", "referenceName": collection},
    }
    if parent:
        properties["parentCollectionName"] = parent
    return {"name": f"policy_{collection}", "id": "5d0c7a53-0c0e-4b8e-9c61-3f1f0c2b9a77", "version": 7,
            "properties": properties}


def curators_of(policy: dict[str, Any], collection: str) -> list[str]:
    [rule] = [r for r in policy["properties"]["attributeRules"]
              if r["id"] == f"purviewmetadatarole_builtin_data-curator:{collection}"]
    members: list[str] = rule["dnfCondition"][0][0]["attributeValueIncludedIn"]
    return members


def test_add_curator_adds_the_identity_once(curator: ModuleType) -> None:
    policy = make_policy()
    before = copy.deepcopy(policy)
    assert curator.add_curator(policy, "contosopurview", APP) is True
    assert curators_of(policy, "contosopurview") == [CURATOR, APP]
    # Only that list changed: the other roles, the groups and the decision rules are as they were.
    curators_of(before, "contosopurview").append(APP)
    assert policy == before
    assert curator.add_curator(policy, "contosopurview", APP) is False
    assert curators_of(policy, "contosopurview") == [CURATOR, APP]


def test_add_curator_is_idempotent_across_case(curator: ModuleType) -> None:
    policy = make_policy("contosopurview")
    # The root collection is named like the account, which may be spelled with capitals; ids compare as GUIDs.
    assert curator.add_curator(policy, "ContosoPurview", APP.upper()) is True
    assert curator.add_curator(policy, "contosopurview", APP) is False
    assert curators_of(policy, "contosopurview") == [CURATOR, APP.upper()]


def test_add_curator_refuses_a_policy_without_a_data_curator_rule(curator: ModuleType) -> None:
    policy = make_policy("k3x9qa", curators=False, parent="contosopurview")
    before = copy.deepcopy(policy)
    with pytest.raises(curator.PolicyError, match=r"no data-curator rule for collection 'k3x9qa'.*Data curators"):
        curator.add_curator(policy, "k3x9qa", APP)
    assert policy == before


def test_add_curator_refuses_another_collections_rule(curator: ModuleType) -> None:
    policy = make_policy("contosopurview")
    with pytest.raises(curator.PolicyError, match=r"collection 'finance1'.*found: purviewmetadatarole_builtin_data-"
                                                   r"curator:contosopurview"):
        curator.add_curator(policy, "finance1", APP)
    with pytest.raises(curator.PolicyError, match="no object id"):
        curator.add_curator(policy, "contosopurview", "  ")


def test_select_policy_picks_the_collection_from_either_answer_shape(curator: ModuleType) -> None:
    root, child = make_policy("contosopurview"), make_policy("k3x9qa", parent="contosopurview")
    assert curator.select_policy({"values": [root, child]}, "k3x9qa") == child
    assert curator.select_policy(root, "ContosoPurview") == root
    with pytest.raises(curator.PolicyError, match="not its display name"):
        curator.select_policy({"values": [root]}, "Finance")


class _PolicyStore(BaseHTTPRequestHandler):
    """Purview's policy store for one account, over local HTTP: GET by collection, PUT by id."""

    policies: dict[str, dict[str, Any]]
    requests: list[tuple[str, str, dict[str, list[str]], str | None, Any]]
    refuse_put: bool = False

    def _answer(self, status: int, doc: Any) -> None:
        raw = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.requests.append(("GET", url.path, query, self.headers.get("Authorization"), None))
        wanted = query.get("collectionName", [""])[0]
        found = [p for p in self.policies.values() if p["properties"]["collection"]["referenceName"] == wanted]
        self._answer(200, {"values": found})

    def do_PUT(self) -> None:
        url = urlsplit(self.path)
        doc = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(("PUT", url.path, parse_qs(url.query), self.headers.get("Authorization"), doc))
        if self.refuse_put:
            self._answer(403, {"error": {"code": "Forbidden", "message": "not a collection admin"}})
            return
        stored = {**copy.deepcopy(doc), "version": doc["version"] + 1}
        self.policies[stored["id"]] = stored
        self._answer(200, stored)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Credential:
    """A token source that hands out a fixed token and remembers the scopes asked for."""

    TOKEN = "local-test-token-4f1c"

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.TOKEN, 4_102_444_800)


@pytest.fixture
def policy_store() -> Iterator[tuple[str, type[_PolicyStore]]]:
    handler = type("Store", (_PolicyStore,), {"policies": {}, "requests": [], "refuse_put": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_grant_reads_the_policy_puts_it_back_once_and_never_shows_the_token(
        curator: ModuleType, policy_store: tuple[str, type[_PolicyStore]]) -> None:
    endpoint, store = policy_store
    policy = make_policy("contosopurview")
    store.policies[policy["id"]] = policy
    credential, said = _Credential(), list[str]()
    assert curator.grant(endpoint, "contosopurview", APP, credential, log=said.append) is True
    get, put = store.requests
    assert get[:3] == ("GET", "/policystore/metadataPolicies",
                       {"collectionName": ["contosopurview"], "api-version": ["2021-07-01-preview"]})
    assert put[:3] == ("PUT", f"/policystore/metadataPolicies/{policy['id']}", {"api-version": ["2021-07-01-preview"]})
    assert get[3] == put[3] == f"Bearer {_Credential.TOKEN}"
    assert credential.scopes == [("https://purview.azure.net/.default",)]
    expected = copy.deepcopy(policy)
    curators_of(expected, "contosopurview").append(APP)
    assert put[4] == expected  # the policy as read, with the one addition
    # Again: already a curator, so no PUT.
    assert curator.grant(endpoint, "contosopurview", APP, credential, log=said.append) is False
    assert [r[0] for r in store.requests] == ["GET", "PUT", "GET"]
    assert curators_of(store.policies[policy["id"]], "contosopurview") == [CURATOR, APP]
    assert said and all(_Credential.TOKEN not in line for line in said)


def test_grant_explains_a_refusal_without_the_token(
        curator: ModuleType, policy_store: tuple[str, type[_PolicyStore]]) -> None:
    endpoint, store = policy_store
    store.refuse_put = True
    policy = make_policy("contosopurview")
    store.policies[policy["id"]] = policy
    with pytest.raises(curator.PolicyError, match=r"answered 403 .*Collection Admin") as failure:
        curator.grant(endpoint, "contosopurview", APP, _Credential(), log=lambda _: None)
    assert _Credential.TOKEN not in str(failure.value)
    with pytest.raises(curator.PolicyError, match="no metadata policy for collection 'k3x9qa'"):
        curator.grant(endpoint, "k3x9qa", APP, _Credential(), log=lambda _: None)


def test_doctor_finds_the_app_and_its_settings_in_the_azd_environment() -> None:
    """``eval "$(azd env get-values)"`` then ``doctor``: the app to check and the settings it runs with, by the
    names the code reads, so that doctor checks the app's identity and reports no setting the app has as missing."""
    outputs = set(parsed(MAIN)["outputs"])
    assert {"LINEAGE_FUNCTION_APP_ID", "LINEAGE_FACTORIES", "LINEAGE_RECONCILE_SCHEDULE", "DATAFACTORY_ENDPOINT",
            "PURVIEW_ACCOUNT_NAME", "LINEAGE_QUEUE_NAME", "AzureWebJobsStorage__queueServiceUri"} <= outputs
    from lineage.cli.app_identity import APP_SETTING

    assert APP_SETTING == "LINEAGE_FUNCTION_APP_ID"


def test_infra_details_found_in_review() -> None:
    """Flex Consumption's floor of 40 instances, the conditional action group dereferenced as such, a poison alert
    that matches text rather than KQL terms, the tenant-level Purview endpoint as a parameter, a Windows hook, and
    a package azd can build."""
    main = MAIN.read_text(encoding="utf-8")
    assert "@minValue(40)\n@maxValue(1000)" in main and "per function group" in main
    assert "actionGroup.id" not in main and main.count("actionGroup!.id") == 2
    fence = "'" * 3
    query = main.split(f"query: {fence}", 1)[1].split(fence, 1)[0]
    assert " has " not in query and 'contains_cs " rejected: "' in query
    assert "purviewEndpoint" in params(MAIN) and "PURVIEW_ENDPOINT: purviewEndpoint" in main
    assert json.loads((ROOT / "infra/main.parameters.json").read_text())["parameters"]["purviewEndpoint"] == {
        "value": "${PURVIEW_ENDPOINT=}"}
    azure_yaml = (ROOT / "azure.yaml").read_text(encoding="utf-8")
    assert "    windows:" in azure_yaml and azure_yaml.count("run: infra/hooks/postdeploy.sh") == 2
    assert "*_env/" in (ROOT / ".funcignore").read_text(encoding="utf-8").splitlines()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"] == {
        "packages": ["lineage"]}
