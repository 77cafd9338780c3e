"""``doctor --app`` and ``--write-probe``: the Function App's own identity and roles, and Purview write access.

ARM here is the local Data Factory server's, which also serves the Function App, role definitions and role
assignments in ARM's shapes (``lineage.local.arm``); Purview is the local one. The signed-in identity is the local
credential, denied what a healthy deployment never grants an operator.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lineage.azure.datafactory import DataFactoryError
from lineage.cli.app_identity import FACTORY_ACTIONS, QUEUE_DATA_ACTIONS
from lineage.cli.main import main
from lineage.local.azurite import Azurite
from lineage.local.stack import LocalStack, load_records, local_stack
from lineage.service import wiring
from tests.conftest import SAMPLES, use_local_stack_settings

pytestmark = pytest.mark.integration
FACTORY = load_records(SAMPLES)[0]["factory"]
SUBSCRIPTION = FACTORY.split("/")[2]
GROUP = "/".join(FACTORY.split("/")[:5])
APP = f"{GROUP}/providers/Microsoft.Web/sites/func-lineage"
STORAGE = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/lineagelocal"  # Azurite's account name


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, azurite=azurite, queue_name="doctor-runs") as running:
        yield running


@pytest.fixture(autouse=True)
def env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    use_local_stack_settings(stack, monkeypatch, [FACTORY])
    monkeypatch.delenv("LINEAGE_FUNCTION_APP_ID", raising=False)
    stack.reset()


def doctor(stack: LocalStack, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["doctor", "--json", *argv], credential=stack.credential)
    checks = json.loads(capsys.readouterr().out)["checks"]
    return code, {c["name"]: c for c in checks}


def healthy_app(stack: LocalStack, *, factory_actions: tuple[str, ...] = FACTORY_ACTIONS, not_actions: tuple[str, ...]
                = (), factory_scope: str = FACTORY) -> str:
    """A deployed app as infra/ leaves it: the custom role on the factory, queue data access on its storage."""
    arm = stack.adf.arm
    principal = arm.add_app(APP)
    assert principal is not None
    reader = arm.add_role(SUBSCRIPTION, "ADF lineage reader", factory_actions, not_actions=not_actions)
    queues = arm.add_role(SUBSCRIPTION, "Storage Queue Data Contributor", [],
                          data_actions=["Microsoft.Storage/storageAccounts/queueServices/queues/messages/*"])
    arm.assign(reader, principal, factory_scope)
    arm.assign(queues, principal, STORAGE)
    arm.assign(queues, "00000000-0000-0000-0000-0000000000aa", STORAGE)  # someone else's: not the app's
    return principal


def test_a_healthy_deployment_passes_though_the_operator_may_read_no_factory(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    healthy_app(stack)
    stack.adf.deny(FACTORY, "queryActivityruns")  # the operator's sign-in: infra/ grants it no factory role
    code, checks = doctor(stack, capsys, "--factory", FACTORY, "--app", APP)
    assert code == 0, [c for c in checks.values() if not c["ok"]]
    assert checks["func-lineage: managed identity"]["detail"].startswith("principal ")
    assert checks["func-lineage on contoso-adf-prod"]["ok"]
    assert checks["func-lineage on storage lineagelocal"]["ok"]
    denied = checks["contoso-adf-prod: Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action"]
    assert denied["ok"] and "denied to your sign-in" in denied["detail"]

    # Without the app named, the signed-in identity is the one checked, and its denial is a failure
    code, checks = doctor(stack, capsys, "--factory", FACTORY)
    assert code == 1 and not checks[
        "contoso-adf-prod: Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action"]["ok"]


def test_role_assignments_are_read_over_every_page(stack: LocalStack, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    principal = healthy_app(stack)  # two assignments of the app's: one per page
    monkeypatch.setattr(stack.adf, "page_size", 1)
    reader = wiring.build_reader(stack.credential, {"DATAFACTORY_ENDPOINT": stack.adf.url})
    assignments = "/subscriptions/" + SUBSCRIPTION + "/providers/Microsoft.Authorization/roleAssignments"
    first = reader.resource("list", assignments, "2022-04-01", {"$filter": f"principalId eq '{principal}'"})
    assert len(first["value"]) == 1 and "&$skipToken=%2B%2F8" in first["nextLink"]  # a page, a link on: ARM's shape
    _, checks = doctor(stack, capsys, "--app", APP)
    assert checks["func-lineage on contoso-adf-prod"]["ok"] and checks["func-lineage on storage lineagelocal"]["ok"]


def test_the_app_setting_names_the_app_and_a_role_above_the_factory_counts(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    healthy_app(stack, factory_actions=("*",), factory_scope=GROUP)  # Contributor-like, on the resource group
    monkeypatch.setenv("LINEAGE_FUNCTION_APP_ID", APP)
    code, checks = doctor(stack, capsys)
    assert code == 0, [c for c in checks.values() if not c["ok"]]
    assert checks["func-lineage on contoso-adf-prod"]["ok"]


def test_a_missing_or_excluded_permission_is_named_with_the_role_that_grants_it(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    without = tuple(a for a in FACTORY_ACTIONS if not a.endswith("queryactivityruns/action"))
    healthy_app(stack, factory_actions=(*without, "Microsoft.DataFactory/factories/pipelines/*"),
                not_actions=("Microsoft.DataFactory/factories/pipelines/read",))
    code, checks = doctor(stack, capsys, "--app", APP)
    assert code == 1
    failed = checks["func-lineage on contoso-adf-prod"]
    assert not failed["ok"] and "factory-reader-role.bicep" in failed["fix"]
    assert failed["detail"] == ("no role grants Microsoft.DataFactory/factories/pipelines/read, "
                                "Microsoft.DataFactory/factories/pipelineruns/queryactivityruns/action")


def test_a_role_on_another_factory_or_no_queue_role_is_a_failure(stack: LocalStack,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    arm = stack.adf.arm
    principal = arm.add_app(APP)
    assert principal is not None
    arm.assign(arm.add_role(SUBSCRIPTION, "reader", FACTORY_ACTIONS), principal, FACTORY + "-other")
    code, checks = doctor(stack, capsys, "--app", APP)
    assert code == 1
    assert not checks["func-lineage on contoso-adf-prod"]["ok"]
    queue = checks["func-lineage on storage lineagelocal"]
    assert not queue["ok"] and queue["detail"] == "no role grants " + ", ".join(QUEUE_DATA_ACTIONS)


def test_an_app_without_identity_or_not_found_is_said(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    stack.adf.arm.add_app(APP, identity=False)
    code, checks = doctor(stack, capsys, "--app", APP)
    assert code == 1 and checks["func-lineage: managed identity"]["detail"] == \
        "the app has no system-assigned identity"
    code, checks = doctor(stack, capsys, "--app", APP.replace("func-lineage", "func-typo"))
    assert code == 1 and checks["Function App func-typo"]["detail"] == "not found"


def test_the_arm_stand_in_answers_as_arm_does(stack: LocalStack) -> None:
    reader = wiring.build_reader(stack.credential, {"DATAFACTORY_ENDPOINT": stack.adf.url})
    principal = healthy_app(stack)
    site = reader.resource("app", APP, "2023-12-01")
    assert site["identity"] == {"type": "SystemAssigned", "principalId": principal,
                                "tenantId": "00000000-0000-0000-0000-000000000000"}
    assignments = "/subscriptions/" + SUBSCRIPTION + "/providers/Microsoft.Authorization/roleAssignments"
    mine = reader.resource("list", assignments, "2022-04-01", {"$filter": f"principalId eq '{principal}'"})["value"]
    assert {a["properties"]["scope"] for a in mine} == {FACTORY, STORAGE}  # below the scope, with the filter
    assert all(a["id"] == f"{a['properties']['scope']}/providers/Microsoft.Authorization/roleAssignments/{a['name']}"
               for a in mine)
    at_factory = reader.resource("list", FACTORY + "/providers/Microsoft.Authorization/roleAssignments", "2022-04-01")
    assert [a["properties"]["scope"] for a in at_factory["value"]] == [FACTORY]  # no filter: at or above only
    role = reader.resource("role", mine[0]["properties"]["roleDefinitionId"], "2022-04-01")
    assert set(role["properties"]["permissions"][0]) == {"actions", "notActions", "dataActions", "notDataActions"}
    with pytest.raises(DataFactoryError) as refused:
        reader.resource("list", assignments, "2022-04-01", {"$filter": "roleName eq 'Owner'"})
    assert refused.value.status == 400
    with pytest.raises(DataFactoryError) as old:
        reader.resource("app", APP, "2016-08-01")
    assert old.value.status == 400


def test_the_write_probe_creates_and_deletes_an_entity_and_names_the_role_when_refused(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    deletes = stack.purview.stats["DELETE */*/*/*/entity/guid/*"]
    code, checks = doctor(stack, capsys, "--factory", FACTORY, "--write-probe")
    probe = checks["write access in the root collection (probe entity created and deleted)"]
    assert code == 0 and probe["ok"], probe
    assert stack.purview.stats["DELETE */*/*/*/entity/guid/*"] == deletes + 1
    assert stack.purview.entities() == []  # nothing left behind
    stack.purview.inject(status=403, path_contains="/entity/bulk", method="POST", body={
        "requestId": "r1", "errorCode": "Forbidden", "errorMessage": "Not authorized to access account"})
    code, checks = doctor(stack, capsys, "--factory", FACTORY, "--write-probe")
    probe = checks["write access in the root collection (probe entity created and deleted)"]
    assert code == 1 and not probe["ok"] and "Data Curator" in probe["fix"] and "403" in probe["detail"]


def test_rules_only_a_root_reader_may_read_are_not_a_failure_of_the_deployment(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    """Data Curator on the lineage's collection (what infra/ grants) cannot read the account's resource-set rules;
    the service never reads them, so doctor says it could not compare them instead of failing."""
    stack.purview.inject(status=403, path_contains="/account/resourceSetRuleConfigs", times=2, body={
        "error": {"code": "Forbidden", "message": "Not authorized"}})
    code, checks = doctor(stack, capsys, "--factory", FACTORY)
    rules = checks["resource-set rules"]
    assert code == 0 and rules["ok"] and rules["detail"].startswith("not compared: this identity may not read")


def test_an_app_id_that_is_not_one_is_refused_with_its_form(stack: LocalStack, capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit) as usage:
        main(["doctor", "--app", "func-lineage"], credential=stack.credential)
    assert usage.value.code == 2
    assert "az functionapp show -n <name> -g <rg> --query id" in capsys.readouterr().err
    monkeypatch.setenv("LINEAGE_FUNCTION_APP_ID", FACTORY)  # a resource id, of something else
    code, checks = doctor(stack, capsys, "--factory", FACTORY)
    assert code == 1 and "not a Function App's resource id" in checks["LINEAGE_FUNCTION_APP_ID"]["detail"]
