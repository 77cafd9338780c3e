"""Secrets never leave: canaries in every place a linked service or an activity can carry one.

Each run of this module draws a random token; every canary holds it. Run records carrying canaries in connection
strings (AccountKey, Password), ``accountKey``, ``sasUri``/``sasToken`` (plain, SecureString, Key Vault),
``password``, ``servicePrincipalKey``, ``encryptedCredential``, data flow script options, an SSIS package and its
connection-manager overrides and package password, Web activity headers, SecureString pipeline parameters, activity
run input and output, and error messages quoting connection strings go through the real path (Azurite, the local
Data Factory and Purview, the local host). The token must then appear nowhere: not in any log record (every logger,
at DEBUG), not in what Purview received or holds, not in ``explain``'s output, not in poison envelopes or the poison
commands' output, not in the worker's outcomes.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from lineage.azure.datafactory import DataFactoryError, DataFactoryReader
from lineage.azure.queues import Queues
from lineage.extract.redact import first_sentence, redact
from lineage.extract.runrecord import FactoryId
from lineage.local.azurite import Azurite
from lineage.local.host import HostSettings
from lineage.local.stack import TOPIC, LocalStack, local_stack
from lineage.service.events import RunRef, cloud_event, event_grid_event
from lineage.service.ledger import Query
from lineage.service.poison import PoisonEnvelope, read_poison
from lineage.service.worker import Outcome, Processed
from tests.hostile import factory_of, run_id_of, run_record, sample_record
from tests.records import activity_run, copy_activity, dataset, expr, linked_service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent
FAST_HOST = HostSettings(max_dequeue_count=3, visibility_timeout_s=1, batch_size=32)
TOKEN = secrets.token_hex(10)  # in every canary; drawn anew for each run of the tests
_count = iter(range(1_000))


def canary() -> str:
    """A distinct secret-looking value that holds the token."""
    return f"Q{TOKEN}{next(_count):03d}z"


def leaks(text: str) -> bool:
    return TOKEN in text


def tail_canary() -> str:
    """A secret whose token comes last, after the characters that used to end masking early (',' '&' '}' a
    space and a quote): only a mask that covers the whole value hides it. No ';', which ends a plain value."""
    return f'a, b & c}} d " e Q{TOKEN}{next(_count):03d}z'


def in_quotes(secret: str) -> str:
    """As a double-quoted value holds it (JSON, a quoted connection-string value): its quotes escaped."""
    return secret.replace('"', '\\"')


def in_braces(secret: str) -> str:
    """As an ODBC braced value holds it: each '}' doubled."""
    return secret.replace("}", "}}")


def shaped_secrets() -> dict[str, str]:
    """One error-message sentence per shape a secret takes in what stores and services echo back; each holds the
    token where masking has to reach it."""
    tail = tail_canary()
    jwt = f"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ{TOKEN}fQ.{TOKEN}c2ln"
    return {
        "quoted": f'Login failed for Password="x, & }} \\" ; {in_quotes(tail)}" on the server.',
        "json": f'Invalid body {{"clientSecret": "x, & }} \\" ; {in_quotes(tail)}", "user": "u"}} was refused.',
        "odbc": f"ODBC failed: DRIVER={{ODBC 18}};PWD={{x;, & }}}} {in_braces(tail)}}};UID=u was rejected.",
        "plain": f"Cannot connect: AccountKey={tail}",
        "basic": f"Request had Authorization: Basic {TOKEN}{next(_count):03d}dXNlcg== and failed.",
        "bearer": f"Request had Bearer {jwt} and failed.",
        "jwt": f"The token {jwt} has expired.",
        "pem": f"Key -----BEGIN RSA PRIVATE KEY-----\nMII{TOKEN}\n-----END RSA PRIVATE KEY----- was rejected.",
        "user-info": f"Cannot reach https://loader:{tail}@contoso-sql.example/sales now.",
        "sas": f"Blob https://acct.blob.core.windows.net/c/x.csv?sv=2022-11-02&sig={TOKEN}%2B&se=1 was not found.",
        "bare sig": f"Copy failed with sig={tail}",
        "query": f"Service answered 401 to GET /api?password={TOKEN}1&key={TOKEN}2&token={TOKEN}3 today.",
    }


def secure(value: str) -> dict[str, str]:
    return {"type": "SecureString", "value": value}


def key_vault(secret_name: str) -> dict[str, Any]:
    return {"type": "AzureKeyVaultSecret", "secretName": secret_name,
            "store": {"referenceName": "kv", "type": "LinkedServiceReference"}}


# ----------------------------------------------------------------------------------------------- the runs


def copy_run() -> dict[str, Any]:
    """Copies between linked services full of secrets, a Web activity, a failed Copy quoting a connection string,
    a Copy whose path needs a SecureString parameter, and a Lookup whose output holds a token."""
    blob = linked_service("RawBlob", "AzureBlobStorage", {
        "connectionString": f"DefaultEndpointsProtocol=https;AccountName=contosoraw;AccountKey={canary()};"
                            "EndpointSuffix=core.windows.net",
        "accountKey": secure(canary()), "sasUri": secure(f"https://contosoraw.blob.core.windows.net/?sig={canary()}"),
        "sasToken": key_vault(canary()), "encryptedCredential": canary()})
    sql = linked_service("SalesSql", "AzureSqlDatabase", {
        "connectionString": "Data Source=contoso-sql.database.windows.net;Initial Catalog=sales;User ID=loader;"
                            f"Password={canary()};",
        "password": key_vault(canary()), "servicePrincipalId": "00000000-0000-0000-0000-0000000000aa",
        "servicePrincipalKey": secure(canary()), "tenant": "contoso.onmicrosoft.com"})
    csv = dataset("SalesCsv", "DelimitedText", "RawBlob", {"location": {
        "type": "AzureBlobStorageLocation", "container": "sales", "folderPath": "daily", "fileName": "sales.csv"}})
    secret_csv = dataset("SecretCsv", "DelimitedText", "RawBlob", {"location": {
        "type": "AzureBlobStorageLocation", "container": "sales", "folderPath": expr("@pipeline().parameters.secret"),
        "fileName": "x.csv"}})
    table = dataset("SalesTable", "AzureSqlTable", "SalesSql", {"schema": "dbo", "table": "DailySales"})
    web = {"name": "Notify", "type": "WebActivity", "typeProperties": {
        "url": f"https://hooks.example/notify?code={canary()}", "method": "POST",
        "headers": {"Authorization": f"Bearer {canary()}", "x-functions-key": canary()},
        "body": {"password": canary(), "token": "@pipeline().parameters.secret"}}}
    lookup = {"name": "GetConfig", "type": "Lookup", "typeProperties": {"source": {"type": "AzureSqlSource"}}}
    shapes = shaped_secrets()
    shaped = [copy_activity(f"CopyShaped{i}", "SalesCsv", "SalesTable") for i in range(len(shapes))]
    activities = [copy_activity("CopySales", "SalesCsv", "SalesTable"),
                  copy_activity("CopyFailed", "SalesCsv", "SalesTable"),
                  copy_activity("CopySecret", "SecretCsv", "SalesTable"), web, lookup, *shaped]
    connection_error = (
        f"Failure happened on 'Sink' side. ErrorCode=SqlFailedToConnect,'Cannot connect to SQL Database: "
        f"'Server=tcp:contoso-sql.database.windows.net,1433;Initial Catalog=sales;User ID=loader;"
        f"Password={canary()};', also {{\"password\":\"{canary()}\",\"accountKey\": \"{canary()}\"}}, "
        f"https://contosoraw.blob.core.windows.net/sales?sv=2022-11-02&sig={canary()} with AccountKey={canary()} "
        f"and <Password>{canary()}</Password> for https://loader:{canary()}@contoso-sql.example/x'")
    runs = [
        activity_run("CopySales", "Copy", "a-1", input={
            "source": {"type": "DelimitedTextSource", "storeSettings": {"type": "AzureBlobStorageReadSettings",
                                                                        "sasToken": canary()}},
            "sink": {"type": "AzureSqlSink", "preCopyScript": f"-- Password={canary()}"}},
            output={"rowsCopied": 5, "dataWritten": 50, "reportLineageToPurview": {"status": "NotReported"},
                    "executionDetails": [{"source": {"type": "AzureBlobStorage",
                                                     "connectionString": f"AccountKey={canary()}"}}]}),
        activity_run("CopyFailed", "Copy", "a-2", status="Failed", error=connection_error),
        activity_run("CopySecret", "Copy", "a-3"),
        activity_run("Notify", "WebActivity", "a-4", input={
            "url": f"https://hooks.example/notify?code={canary()}", "headers": {"Authorization": f"Bearer {canary()}"}},
            output={"Response": f"token={canary()}", "ADFWebActivityResponseHeaders": {"Set-Cookie": canary()}}),
        activity_run("GetConfig", "Lookup", "a-5", output={"firstRow": {"apiKey": canary(), "secret": canary()}}),
        # Each shape in the first sentence, which is what reaches Purview; more secrets after it.
        *[activity_run(f"CopyShaped{i}", "Copy", f"a-s{i}", status="Failed",
                       error=f"{shape} Then {' '.join(shapes.values())}")
          for i, shape in enumerate(shapes.values())],
    ]
    doc = run_record("secrets: copy", activities, runs, datasets=[csv, secret_csv, table],
                     linked_services=[blob, sql], parameters={"day": "2026-11-24", "secret": canary()},
                     pipeline_parameters={"secret": {"type": "SecureString"}, "day": {"type": "String"}})
    doc["pipelineRun"]["message"] = f"Operation failed: Password={canary()} " + " ".join(shapes.values())
    doc["globalParameters"] = {"apiKey": {"type": "String", "value": canary()}}
    return doc


def expression_run() -> dict[str, Any]:
    """Secrets that look like expressions ('@...'), a SAS URL in plain sight, and a SecureString parameter of a
    linked service, each on a linked service of its own: evaluating them once put their text in skip reasons."""
    server = "Data Source=contoso-sql.database.windows.net;Initial Catalog=sales;User ID=u"
    services = {
        "AtPassword": {"connectionString": server, "password": f"@{canary()}"},
        "IntKey": {"connectionString": server, "servicePrincipalKey": f"@int('{canary()}')"},
        "Interpolated": {"connectionString": server, "servicePrincipalCredential": f"x@{{concat({canary()})}}"},
        "WrappedKey": {"connectionString": server, "accountKey": {"type": "Expression", "value": canary()}},
        "AtInConnection": {"connectionString": f"{server};Password=@{canary()};Pwd=x@{{{canary()}}}"},
        "SecureParam": {"connectionString": f"{server};Password=@{{linkedService().pw}}"},
    }
    linked = [linked_service(name, "AzureSqlDatabase", props, parameters={"pw": {"type": "SecureString"}})
              for name, props in services.items()]
    linked.append(linked_service("SasBlob", "AzureBlobStorage", {
        "sasUri": f"https://contososas.blob.core.windows.net/?sv=2022-11-02&ss=b&sp=rl&sig={canary()}%3D"}))
    csv = dataset("SasCsv", "DelimitedText", "SasBlob", {"location": {
        "type": "AzureBlobStorageLocation", "container": "in", "folderPath": "x", "fileName": "a.csv"}})
    tables = [dataset(f"{name}Table", "AzureSqlTable", name, {"schema": "dbo", "table": name},
                      ls_parameters={"pw": "@pipeline().parameters.secret"}) for name in services]
    activities = [copy_activity(f"Copy{name}", "SasCsv", f"{name}Table") for name in services]
    runs = [activity_run(f"Copy{name}", "Copy", f"b-{i}", output={"rowsCopied": 1})
            for i, name in enumerate(services)]
    return run_record("secrets: expressions", activities, runs, datasets=[csv, *tables], linked_services=linked,
                      parameters={"secret": canary()}, pipeline_parameters={"secret": {"type": "SecureString"}})


def dataflow_run() -> dict[str, Any]:
    """A data flow whose inline sink's options and linked service carry credentials, and a second one whose
    broken script quotes them."""
    doc = sample_record("dataflow_inline_sink.json")
    doc["factory"], doc["pipelineRun"]["runId"] = factory_of("secrets: data flow"), run_id_of("secrets: data flow")
    props = doc["dataflows"]["df_clean_orders"]["properties"]["typeProperties"]
    props["scriptLines"][-1] = (f"     password: '{canary()}', connectionString: 'AccountKey={canary()}',"
                                f" sasToken: '{canary()}') ~> SqlSink")
    ls = doc["linkedServices"]["ls_sql_sales"]["properties"]["typeProperties"]
    ls["connectionString"] += f";Password={canary()}"
    ls["password"] = secure(canary())
    broken = json.loads(json.dumps(doc["dataflows"]["df_clean_orders"]))
    broken["name"] = "df_broken"
    broken["properties"]["typeProperties"]["scriptLines"] = [
        "source() ~> OrdersSource", f"OrdersSource sink(tableName: 'T') ~> SqlSink password: '{canary()}'",
    ]
    doc["dataflows"]["df_broken"] = broken
    activities = doc["pipelines"]["CleanOrders"]["properties"]["activities"]
    second = json.loads(json.dumps(activities[0]))
    second["name"] = "TransformBroken"
    second["typeProperties"]["dataflow"]["referenceName"] = "df_broken"
    activities.append(second)
    run = json.loads(json.dumps(doc["activityRuns"][0]))
    run.update(activityName="TransformBroken", activityRunId="c-2")
    doc["activityRuns"].append(run)
    return doc


def ssis_run() -> dict[str, Any]:
    """An inline package with passwords in its connection strings and a sensitive property, run with
    connection-manager overrides, a package password and an execution credential."""
    doc = sample_record("ssis_inline_package.json")
    doc["factory"], doc["pipelineRun"]["runId"] = factory_of("secrets: SSIS"), run_id_of("secrets: SSIS")
    props = doc["pipelines"]["StageCustomersSsis"]["properties"]["activities"][0]["typeProperties"]
    location = props["packageLocation"]
    content = str(location["typeProperties"]["packageContent"])
    content = content.replace("Auto Translate=False;Application Name=SSIS-StageCustomers;",
                              f"Auto Translate=False;User ID=sa;Password={canary()};")
    content = content.replace("<DTS:ObjectData>", f'<DTS:ObjectData><DTS:Password DTS:Name="Password" '
                                                  f'Sensitive="1">{canary()}</DTS:Password>', 1)
    location["typeProperties"]["packageContent"] = content
    location["typeProperties"]["packagePassword"] = secure(canary())
    location["typeProperties"]["accessCredential"] = {"domain": "d", "userName": "u", "password": secure(canary())}
    props["packageConnectionManagers"] = {"StagingDb": {
        "ConnectionString": {"value": f"Data Source=contoso-sql.database.windows.net;Initial Catalog=staging;"
                                      f"User ID=sa;Password={canary()};"},
        "Password": {"value": canary()}, "InitialCatalog": {"value": "staging"}}}
    props["projectConnectionManagers"] = {"SalesDb": {"Password": {"value": secure(canary())},
                                                      "ConnectionString": {"value": secure(canary())}}}
    props["executionCredential"] = {"domain": "d", "userName": "u", "password": secure(canary())}
    props["packageParameters"] = {"pw": {"value": secure(canary())}, "plain": {"value": canary()}}
    # an Azure Blob Source on an AzureStorage connection manager: its account key as a sensitive property, in its
    # connection string, and in the activity's override of both
    content = content.replace("</DTS:ConnectionManagers>", (
        '<DTS:ConnectionManager DTS:refId="Package.ConnectionManagers[Raw]" DTS:CreationName="AzureStorage" '
        f'DTS:ObjectName="Raw" DTS:ConnectionString="AccountName=contosoraw;AccountKey={canary()}"><DTS:ObjectData>'
        f'<AzureStorageConnectionManager><Property Name="AccountKey" Sensitive="1">{canary()}</Property>'
        '<Property Name="AccountName">contosoraw</Property></AzureStorageConnectionManager></DTS:ObjectData>'
        "</DTS:ConnectionManager></DTS:ConnectionManagers>"), 1)
    content = content.replace("<components>", (
        '<components><component componentClassID="Microsoft.ManagedComponentHost" name="Blob In"><properties>'
        '<property name="UserComponentTypeName">Microsoft.SqlServer.IntegrationServices.AzureBlobSource</property>'
        '<property name="BlobContainer">landing</property><property name="BlobName">customers.csv</property>'
        '</properties><connections><connection connectionManagerRefId="Package.ConnectionManagers[Raw]"/>'
        "</connections></component>"), 1)
    location["typeProperties"]["packageContent"] = content
    props["packageConnectionManagers"]["Raw"] = {
        "ConnectionString": {"value": f"AccountName=contosoraw;AccountKey={canary()};EndpointSuffix=core.windows.net"},
        "AccountKey": {"value": canary()}}
    return doc


def denied_run() -> dict[str, Any]:
    """A run whose read-back fails with an error body that quotes a connection string."""
    return run_record("secrets: api error", [], [], parameters={})


API_ERROR = {"error": {"code": "BadRequest", "message": (
    f"Invalid linked service payload: 'Server=tcp:x.database.windows.net;Password={canary()};"
    f"AccountKey={canary()}' or {{\"sasToken\": \"{canary()}\"}} with "
    f'{{"password": "{in_quotes(tail_canary())}"}} and PWD={{x;{in_braces(tail_canary())}}}')}}
# An event no run can come of, carrying secrets in its data: it is poisoned, and what is stored must be masked.
REJECTED_EVENT_DATA = {"runId": "not a run id!", "factoryId": "/subscriptions/s/resourceGroups/r/providers/"
                       "Microsoft.DataFactory/factories/f", "password": tail_canary(),
                       "connectionString": f"Server=x;Password={{y;{in_braces(tail_canary())}}};Uid=u",
                       "authorization": f"Bearer {TOKEN}", "note": f"see https://u:{tail_canary()}@h.example/x"}


# ------------------------------------------------------------------------------------------- one pass, observed


@dataclass
class Observed:
    records: list[dict[str, Any]]
    logs: list[str]
    output: str  # what was printed to stdout/stderr meanwhile
    payloads: list[Any]
    stored: list[dict[str, Any]]
    processed: list[Processed]
    poison_bodies: list[str]


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # the message and, when there is one, the traceback


@pytest.fixture(scope="module")
def stack(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with local_stack(tmp_path_factory.mktemp("no-samples"), host_settings=FAST_HOST, azurite=azurite,
                     queue_name=f"secrets-{uuid.uuid4().hex[:12]}",
                     env={"LINEAGE_MAX_DEQUEUE_COUNT": str(FAST_HOST.max_dequeue_count)}) as running:
        yield running


@pytest.fixture(scope="module")
def observed(stack: LocalStack) -> Iterator[Observed]:
    records = [copy_run(), expression_run(), dataflow_run(), ssis_run()]
    denied = denied_run()
    payloads: list[Any] = []
    processed: list[Processed] = []
    original_route = stack.purview.route

    def recording(request: Any) -> Any:
        payloads.append({"method": request.method, "path": request.path, "body": request.body})
        return original_route(request)

    handler = _Everything()
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    stack.purview.route = recording  # type: ignore[method-assign]
    stack.worker.listeners.append(processed.append)
    capture = _Capture()
    try:
        with capture:
            for index, doc in enumerate([*records, denied]):
                stack.adf.put_run(doc)
                ref = RunRef(FactoryId.parse(doc["factory"]), doc["pipelineRun"]["runId"])
                stack.host.deliver(cloud_event(f"s-{index}", ref) if index % 2 else
                                   event_grid_event(f"s-{index}", ref, topic=TOPIC))
            stack.adf.inject(status=400, body=API_ERROR, path_contains=denied["pipelineRun"]["runId"], times=1)
            rejected = event_grid_event("s-rejected", RunRef(FactoryId.parse(denied["factory"]), "r"), topic=TOPIC)
            rejected["data"] = REJECTED_EVENT_DATA
            stack.host.deliver(rejected)
            stack.host.drain(timeout_s=40, idle_sleep_s=0.05)
        raw_poison = QueueClient.from_connection_string(stack.azurite.connection_string,
                                                        stack.queues.poison.queue_name)
        bodies = [str(m.content) for m in raw_poison.peek_messages(max_messages=32)]
        yield Observed([*records, denied], handler.lines, capture.text, payloads, stack.purview.entities(),
                       processed, bodies)
    finally:
        root.setLevel(saved_level)
        root.removeHandler(handler)
        stack.worker.listeners.remove(processed.append)
        stack.purview.route = original_route  # type: ignore[method-assign]
        stack.adf.clear_faults()


class _Capture:
    """Everything written to the process's stdout and stderr (file descriptors 1 and 2) meanwhile."""

    def __enter__(self) -> _Capture:
        import tempfile

        self._file = tempfile.TemporaryFile()
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = [os.dup(1), os.dup(2)]
        os.dup2(self._file.fileno(), 1)
        os.dup2(self._file.fileno(), 2)
        self.text = ""
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._saved[0], 1)
        os.dup2(self._saved[1], 2)
        for fd in self._saved:
            os.close(fd)
        self._file.seek(0)
        self.text = self._file.read().decode("utf-8", "replace")
        self._file.close()


def test_the_canaries_went_in_and_every_run_was_processed(observed: Observed) -> None:
    """The other tests could pass by never touching the secrets: show they were served and handled."""
    for doc in observed.records[:4]:
        assert leaks(json.dumps(doc))
    assert leaks(json.dumps(REJECTED_EVENT_DATA)) and leaks(json.dumps(API_ERROR))
    outcomes = {p.run_id: p.outcome for p in observed.processed}
    ids = [str(doc["pipelineRun"]["runId"]) for doc in observed.records]
    assert [outcomes.get(i) for i in ids] == [Outcome.PUSHED] * 4 + [Outcome.POISONED]
    assert len(observed.logs) > 50  # DEBUG from every logger was captured (urllib3, azure, ours)
    assert any(line.startswith("urllib3") for line in observed.logs)
    assert any(line.startswith("azure") for line in observed.logs)


def test_no_log_record_holds_a_secret(observed: Observed) -> None:
    leaked = [line[:300] for line in observed.logs if leaks(line)]
    assert leaked == []
    assert not leaks(observed.output)


def test_nothing_sent_to_or_held_by_purview_holds_a_secret(observed: Observed) -> None:
    assert observed.payloads and observed.stored
    assert not leaks(json.dumps(observed.payloads))
    assert not leaks(json.dumps(observed.stored))
    failed = [e for e in observed.stored if e["attributes"]["qualifiedName"].endswith("/activities/CopyFailed")]
    assert [e["attributes"]["status"] for e in failed] == ["Failed"]
    # Only the error code and the first sentence reach Purview: the store's own words after it stay in Data Factory.
    assert failed[0]["attributes"]["errorMessage"] == "2200: Failure happened on 'Sink' side."
    # A secret in that first sentence is masked whole, whatever its shape; the sentence around it stays readable.
    shaped = {e["attributes"]["name"]: e["attributes"]["errorMessage"] for e in observed.stored
              if e["attributes"]["name"].startswith("CopyShaped") and e["typeName"] == "adf_copy_activity"}
    assert len(shaped) == len(shaped_secrets())
    for message in shaped.values():
        assert message.startswith("2200: ") and "***" in message and not leaks(message)
    assert shaped["CopyShaped0"] == '2200: Login failed for Password="***" on the server.'
    assert shaped["CopyShaped2"] == "2200: ODBC failed: DRIVER={ODBC 18};PWD={***};UID=u was rejected."


def test_the_worker_outcomes_hold_no_secret(observed: Observed) -> None:
    assert observed.processed
    for item in observed.processed:
        assert not leaks(item.detail)
        assert not leaks(json.dumps(item.document, default=str))
    reasons = [row.get("reason", "") for p in observed.processed for row in (p.document or {}).get("activities", [])]
    assert any("SecureString" in r for r in reasons)  # the secret parameter was refused, by name only
    assert any("script not understood" in r for r in reasons)  # the broken script was reported, masked


def test_poison_envelopes_hold_no_secret(observed: Observed) -> None:
    assert len(observed.poison_bodies) == 2
    envelopes = {e.error_class: e for e in map(read_poison, observed.poison_bodies)}
    assert set(envelopes) == {"DataFactoryError", "EventError"}
    assert "BadRequest" in envelopes["DataFactoryError"].reason
    rejected = json.loads(envelopes["EventError"].message)  # the event's data, stored masked but still JSON
    assert rejected["runId"] == "not a run id!" and rejected["password"] == "***"
    for body in observed.poison_bodies:
        assert not leaks(body) and not leaks(read_poison(body).reason) and not leaks(read_poison(body).message)


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lineage", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, check=False)


def test_explain_prints_no_secret(observed: Observed, tmp_path: Path) -> None:
    paths = []
    for index, doc in enumerate(observed.records[:4]):
        path = tmp_path / f"run-{index}.json"
        path.write_text(json.dumps(doc))
        paths.append(str(path))
    as_json = _run_cli("explain", *paths)
    as_mermaid = _run_cli("explain", "--format", "mermaid", *paths)
    assert (as_json.returncode, as_mermaid.returncode) == (0, 0), as_json.stderr + as_mermaid.stderr
    assert len(as_json.stdout.splitlines()) > 100 and "flowchart" in as_mermaid.stdout
    for result in (as_json, as_mermaid):
        assert not leaks(result.stdout) and not leaks(result.stderr)


def test_the_poison_commands_print_no_secret(observed: Observed, stack: LocalStack) -> None:
    env = {"AzureWebJobsStorage": stack.azurite.connection_string,
           "LINEAGE_QUEUE_NAME": stack.queues.work.queue_name, "AzureWebJobsStorage__queueServiceUri": ""}
    listed = _run_cli("poison", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    messages = json.loads(listed.stdout)["messages"]
    assert len(messages) == 2
    shown = [_run_cli("poison", "show", m["id"], "--json", env=env) for m in messages]
    shown_table = _run_cli("poison", "show", messages[0]["id"], env=env)
    text = _run_cli("poison", "list", env=env)
    assert [r.returncode for r in [*shown, text]] == [0, 0, 0], [r.stderr for r in [*shown, text]]
    assert {json.loads(r.stdout)["errorClass"] for r in shown} == {"DataFactoryError", "EventError"}
    assert shown_table.returncode == 0 and "errorClass:" in shown_table.stdout
    for result in (listed, *shown, text, shown_table):
        assert not leaks(result.stdout) and not leaks(result.stderr)


def test_the_run_ledger_and_status_hold_no_secret(observed: Observed, stack: LocalStack) -> None:
    entries = list(stack.ledger.find(Query(), story=True))
    assert {e.outcome for e in entries} == {"pushed", "poisoned"}
    for entry in entries:
        assert not leaks(json.dumps(entry.to_json(story=True)))
    env = {"AzureWebJobsStorage": stack.azurite.connection_string, "LINEAGE_LEDGER_TABLE": stack.ledger.table.name,
           "AzureWebJobsStorage__queueServiceUri": "", "AzureWebJobsStorage__tableServiceUri": ""}
    results = [_run_cli("status", "--json", env=env), _run_cli("status", env=env),
               *(_run_cli("status", "--run", e.run_id, env=env) for e in entries)]
    assert [r.returncode for r in results] == [0] * len(results), [r.stderr for r in results]
    for result in results:
        assert not leaks(result.stdout) and not leaks(result.stderr)


def test_the_poison_commands_mask_what_an_older_release_stored_unmasked(stack: LocalStack) -> None:
    """Envelopes written before rejected events were redacted, and bodies the host moved as they were: printed
    masked all the same."""
    queue = f"secrets-old-{uuid.uuid4().hex[:8]}"
    old = Queues.connect(queue, connection_string=stack.azurite.connection_string)
    old.create()
    try:
        old.send_poison(PoisonEnvelope(message=json.dumps(REJECTED_EVENT_DATA), error_class="EventError",
                                       reason=f"rejected: Password={tail_canary()}", attempts=1, first_seen="",
                                       last_failure="").to_json())
        raw = QueueClient.from_connection_string(stack.azurite.connection_string, queue + "-poison")
        raw.send_message(json.dumps({"v": 1, "eventId": "x", "token": tail_canary()}))
        env = {"AzureWebJobsStorage": stack.azurite.connection_string, "LINEAGE_QUEUE_NAME": queue,
               "AzureWebJobsStorage__queueServiceUri": ""}
        listed = _run_cli("poison", "list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        ids = [m["id"] for m in json.loads(listed.stdout)["messages"]]
        assert len(ids) == 2
        for result in (listed, _run_cli("poison", "list", env=env), *[_run_cli("poison", "show", i, env=env)
                                                                       for i in ids]):
            assert result.returncode == 0 and "***" in result.stdout
            assert not leaks(result.stdout) and not leaks(result.stderr)
    finally:
        for client in (old.work, old.poison):
            client.delete_queue()


def test_a_failed_call_raises_no_secret_to_the_host(stack: LocalStack) -> None:
    """The error a transient failure raises (and the Functions host logs) must not quote a secret."""
    reader = DataFactoryReader(stack.credential, base_url=stack.adf.url, retry_total=0)
    factory = FactoryId.parse(factory_of("secrets: transient"))
    stack.adf.inject(status=503, body=API_ERROR, path_contains="transient-run", times=1)
    try:
        with pytest.raises(DataFactoryError) as raised:
            reader.pipeline_run(factory, "transient-run")
    finally:
        stack.adf.clear_faults()
    assert raised.value.transient
    assert "BadRequest" in str(raised.value)
    assert not leaks(str(raised.value))


@pytest.mark.parametrize("shape", sorted(shaped_secrets()))
def test_each_shape_is_masked_whole_by_the_redactor_and_in_purviews_first_sentence(shape: str) -> None:
    """The same shapes without the service around them: a one-line regression in a rule fails here by name."""
    text = shaped_secrets()[shape]
    assert leaks(text)
    masked, sentence = redact(text), first_sentence(text)
    assert not leaks(masked) and not leaks(sentence), (masked, sentence)
    assert "***" in sentence and len(sentence) > 20  # masked, not emptied


@pytest.mark.parametrize("text", [
    "a://" * 16_000, "<password" * 7_000, "Password=" * 7_000, '"key":"' * 9_000, "PWD={" * 12_000,
    "\\" * 60_000 + '"', "https://" + "u" * 60_000, "-----BEGIN X-----" * 3_500,
], ids=["schemes", "xml tags", "pairs", "json keys", "braces", "backslashes", "long url", "pem begins"])
def test_the_redactor_stays_linear_on_hostile_text(text: str) -> None:
    """Error messages are written by whoever controls the failing store: 64 KB of repeated openers must not make
    any rule scan the rest of the text once per opener."""
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 1.0
