"""A corpus of hostile and broken inputs, each with the one place it must end up.

Four kinds of input, by where they enter the service:

- ``event``: a run-completed event (Event Grid schema or CloudEvents 1.0) as Event Grid delivers it; it becomes a
  work message (``queued``) or a poison envelope (``poison``) in ``on_run_completed``.
- ``queue``: a body exactly as stored on the work queue; the host decodes it and ``push_lineage`` takes it.
- ``run``: a run record served by the local Data Factory, reached by a valid event; its run is ``pushed``,
  ``skipped`` (no lineage, with the reasons) or ``poison``.
- ``record``: a whole run-record document given to ``explain``, which ``rejected`` it with its reason.

Every case names the substring its reason must hold. ``defect`` marks a case that lands wrongly today because of a
defect outside the lineage core (the text says where and what the fix is); the tests expect it to fail until fixed.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lineage.service.events import EVENT_TYPE
from tests.records import activity_run, copy_activity, dataset, expr, linked_service

Kind = Literal["event", "queue", "run", "record"]
Landing = Literal["queued", "poison", "skipped", "pushed", "rejected", "refused"]  # refused: counted, not poisoned

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SUB = "6f1c7c3e-2a7b-4c1e-9d55-3b1f0f4a9e21"
EVENT_FACTORY = f"/subscriptions/{SUB}/resourceGroups/rg-events/providers/Microsoft.DataFactory/factories/adf-events"
EVENT_RUN = "2f7fdb90-5df1-4b8e-ac2f-064cfa58202b"
TOPIC = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/r/providers/Microsoft.EventGrid/topics/t"
_NAMESPACE = uuid.UUID("9a1d4b52-6a0e-4a43-9d7e-0c7f3f1b8e11")
LONG = "x" * 10_000
RTL = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: text that displays in another order than it is stored


@dataclass(frozen=True)
class Case:
    """One hostile input and where it must land, with a substring of the reason it must land with."""

    name: str
    kind: Kind
    input: Any
    expect: Landing
    reason: str = ""
    defect: str = ""
    serves: dict[str, Any] | None = None  # the run record the local Data Factory serves for this case

    @property
    def run_id(self) -> str | None:
        """The run this case reaches, when it reaches one that is served."""
        return str(self.serves["pipelineRun"]["runId"]) if self.serves is not None else None


def corpus() -> list[Case]:
    """Every case; names are unique."""
    cases = [*event_cases(), *queue_cases(), *run_cases(), *record_cases()]
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise AssertionError(f"duplicate case names: {duplicates}")
    return cases


# ------------------------------------------------------------------------------------------------------- events

def event_grid(data: Any, event_id: Any = "evt", **extra: Any) -> dict[str, Any]:
    envelope = {"id": event_id, "topic": TOPIC, "subject": "factories/adf/pipelineruns/x", "eventType": EVENT_TYPE,
                "eventTime": "2026-11-25T00:00:00Z", "data": data, "dataVersion": "1.0", **extra}
    return {k: v for k, v in envelope.items() if v is not _ABSENT}


def cloud_event(data: Any, event_id: Any = "evt", **extra: Any) -> dict[str, Any]:
    envelope = {"specversion": "1.0", "id": event_id, "source": EVENT_FACTORY, "type": EVENT_TYPE,
                "time": "2026-11-25T00:00:00Z", "subject": "pipelineruns/x", "datacontenttype": "application/json",
                "data": data, **extra}
    return {k: v for k, v in envelope.items() if v is not _ABSENT}


_ABSENT = object()


def _factory_id(sub: str = SUB, rg: str = "rg-events", name: str = "adf-events",
                provider: str = "Microsoft.DataFactory/factories") -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}/{name}"


def _event_data() -> Iterator[tuple[str, Any, Landing, str]]:
    """(name, data, landing, reason) for the ``data`` of a run-completed event."""
    ok = {"runId": EVENT_RUN, "factoryId": EVENT_FACTORY}
    yield "valid", ok, "queued", ""
    yield "valid by parts", {"runId": EVENT_RUN, "subscriptionId": SUB, "resourceGroup": "rg-events",
                             "factoryName": "adf-events"}, "queued", ""
    yield "valid as a JSON string", json.dumps(ok), "queued", ""
    yield "valid with hostile informational fields", {**ok, "status": "Succ\x00eeded", "pipelineName": RTL + LONG,
                                                       "extra": {"nested": [1, None, True]}}, "queued", ""
    yield "valid with lower-case provider", {**ok, "factoryId": EVENT_FACTORY.replace(
        "Microsoft.DataFactory", "microsoft.datafactory")}, "queued", ""
    yield "valid with a trailing slash", {**ok, "factoryId": EVENT_FACTORY + "/"}, "queued", ""
    for name, data in [("null", None), ("a list", [ok]), ("a number", 42), ("true", True), ("an empty object", {}),
                       ("a JSON list string", "[]")]:
        reason = "runId" if data == {} else "must be an object"
        yield f"data is {name}", data, "poison", reason
    yield "data is not JSON", "{runId: x", "poison", "not JSON"
    yield "data is JSON nested 20000 deep", "[" * 20_000 + "]" * 20_000, "poison", "not JSON"
    yield "data is an object nested 40 deep", _nested({"a": 1}, 40), "poison", "runId"
    for name, run_id in [("missing", _ABSENT), ("null", None), ("a number", 123), ("a float", 1.5), ("true", True),
                         ("a list", [EVENT_RUN]), ("an object", {"id": EVENT_RUN}), ("empty", ""),
                         ("65 characters", "a" * 65), ("path traversal", "../../etc/passwd"),
                         ("with a slash", "run/1"), ("with a trailing newline", EVENT_RUN + "\n"),
                         ("with NUL", "run\x00id"), ("full-width letters", "ｒｕｎ１"),
                         ("with an RTL override", "run" + RTL + "di"), ("an SQL injection", "1' OR '1'='1"),
                         ("percent-encoded", "%2e%2e%2f"), ("10k characters", LONG), ("with a space", "run 1")]:
        data = {k: v for k, v in {**ok, "runId": run_id}.items() if v is not _ABSENT}
        yield f"runId {name}", data, "poison", "runId"
    for name, factory in [("empty", ""), ("a number", 7), ("a list", [EVENT_FACTORY]), ("an object", {"id": "x"}),
                          ("a subscription only", f"/subscriptions/{SUB}"),
                          ("another provider", _factory_id(provider="Microsoft.Synapse/workspaces")),
                          ("with a child path", EVENT_FACTORY + "/pipelines/p"),
                          ("NUL in the subscription", _factory_id(sub="sub\x00")),
                          ("newline in the resource group", _factory_id(rg="rg\nx")),
                          ("trailing newline in a segment", _factory_id(rg="rg-events\n")),
                          ("'#' in the name", _factory_id(name="adf#1")),
                          ("'%' in the name", _factory_id(name="adf%20")),
                          ("a quote in the name", _factory_id(name="adf'1")),
                          ("a space in the name", _factory_id(name="adf 1")),
                          ("unicode name", _factory_id(name="fábrica")),
                          ("RTL in the name", _factory_id(name=RTL + "fda")),
                          ("10k-character name", _factory_id(name=LONG)), ("a URL", "https://evil.example/factories/x"),
                          ("relative path", EVENT_FACTORY.lstrip("/"))]:
        yield f"factoryId {name}", {**ok, "factoryId": factory}, "poison", "factory"
    parts = {"runId": EVENT_RUN, "subscriptionId": SUB, "resourceGroup": "rg-events", "factoryName": "adf-events"}
    for name, key, value, reason in [
            ("no factoryName", "factoryName", _ABSENT, "factoryId, or subscriptionId"),
            ("empty resourceGroup", "resourceGroup", "", "factoryId, or subscriptionId"),
            ("numeric subscriptionId", "subscriptionId", 6, "factoryId, or subscriptionId"),
            ("factoryName with a slash", "factoryName", "a/b", "no valid factory"),
            ("factoryName with '#'", "factoryName", "a#b", "no valid factory"),
            ("resourceGroup with RTL", "resourceGroup", "rg" + RTL, "no valid factory"),
            ("factoryName with NUL", "factoryName", "adf\x00", "no valid factory")]:
        data = {k: v for k, v in {**parts, key: value}.items() if v is not _ABSENT}
        yield f"parts: {name}", data, "poison", reason
    yield "invalid factoryId wins over valid parts", {**parts, "factoryId": "nope"}, "poison", "no valid factory"
    yield "oversized data (70 KB)", {**ok, "padding": "x" * 70_000}, "poison", "exceeds"
    yield "oversized string data (70 KB)", json.dumps({**ok, "padding": "y" * 70_000}), "poison", "exceeds"
    yield "oversized by many small fields", {**ok, **{f"k{i}": i for i in range(8_000)}}, "poison", "exceeds"


def _nested(leaf: Any, depth: int) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def event_cases() -> list[Case]:
    """The data variants in both schemas, then what only the envelope can get wrong."""
    cases: list[Case] = []
    for schema, build in (("Event Grid", event_grid), ("CloudEvents", cloud_event)):
        for index, (name, data, landing, reason) in enumerate(_event_data()):
            envelope = build(data, event_id=f"evt-{schema[0]}-{index}")
            cases.append(Case(f"event/{schema}: {name}", "event", envelope, landing, reason))
    ok = {"runId": EVENT_RUN, "factoryId": EVENT_FACTORY}
    for schema, build in (("Event Grid", event_grid), ("CloudEvents", cloud_event)):
        for name, event_id, landing, reason in [
                ("id of 100k characters", "i" * 100_000, "poison", "event id"),
                ("id is an object", {"x": 1}, "poison", "event id"),
                ("id is a number", 12, "poison", "event id"),
                ("id is empty", "", "poison", "event id"),
                ("id with NUL", "evt\x00", "poison", "event id"),
                ("id with RTL", "evt" + RTL, "poison", "event id"),
                ("id missing", _ABSENT, "queued", ""),
                ("id of 256 unicode characters", "é" * 256, "queued", "")]:
            envelope = build(ok, event_id=event_id)
            cases.append(Case(f"event/{schema}: {name}", "event", envelope, landing, reason))
        cases.append(Case(f"event/{schema}: no data at all", "event", build(_ABSENT), "poison", "must be an object"))
        cases.append(Case(f"event/{schema}: hostile unused envelope fields", "event",
                          build(ok, subject="\x00" + LONG, topic=RTL), "queued", ""))
    cases.append(Case("event/CloudEvents: data_base64 instead of data", "event",
                      cloud_event(_ABSENT, data_base64=base64.b64encode(json.dumps(ok).encode()).decode()),
                      "poison", "must be an object"))
    cases.append(Case("event/CloudEvents: specversion 0.3", "event", cloud_event(ok, specversion="0.3"), "queued", ""))
    cases.append(Case("event/Event Grid: another event type", "event", event_grid(ok, eventType="Other.Event"),
                      "refused", ""))
    return cases


# -------------------------------------------------------------------------------------------------- queue bodies

def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def work_body(run_id: str, factory: str, **fields: Any) -> str:
    doc = {"v": 1, "factory": factory, "runId": run_id, "eventId": "e", "receivedAt": "2026-11-25T00:00:00Z",
           "waits": 0, **fields}
    return json.dumps({k: v for k, v in doc.items() if v is not _ABSENT})


def queue_cases() -> list[Case]:
    cases: list[Case] = []
    host = "moved by the Functions host"
    for name, raw in [("not base64", "not base64 {"), ("percent signs", "%%%%"), ("unicode text", "ünïcödé ✓"),
                      ("base64 with a bad tail", "eyJ2IjoxfQ=x"), ("whitespace inside base64", "eyJ2 IjoxfQ==")]:
        cases.append(Case(f"queue: {name}", "queue", raw, "poison", host))
    cases.append(Case("queue: plain JSON, not base64", "queue", '{"v": 1}', "poison", host))
    valid_plain = work_body(str(uuid.uuid5(_NAMESPACE, "plain")), EVENT_FACTORY)
    cases.append(Case("queue: a plain (unencoded) work message", "queue", valid_plain, "poison",
                      "without running it: not base64-encoded"))
    for name, text, reason in [
            ("not UTF-8 bytes", b"\xff\xfe\xfd{", "not JSON"), ("a space", " ", "not JSON"),
            ("not JSON", "hello", "not JSON"), ("truncated JSON", '{"v": 1, "factory": ', "not JSON"),
            ("JSON with a BOM", "\ufeff" + work_body(EVENT_RUN, EVENT_FACTORY), "not JSON"),
            ("JSON nested 20000 deep", "[" * 20_000 + "]" * 20_000, "not JSON"),
            ("JSON null", "null", "JSON object"), ("JSON list", "[]", "JSON object"),
            ("JSON number", "42", "JSON object"), ("JSON string", '"work"', "JSON object"),
            ("JSON true", "true", "JSON object"), ("empty object", "{}", "version"),
            ("version 0", work_body(EVENT_RUN, EVENT_FACTORY, v=0), "version"),
            ("version 2", work_body(EVENT_RUN, EVENT_FACTORY, v=2), "version"),
            ("version as text", work_body(EVENT_RUN, EVENT_FACTORY, v="1"), "version"),
            ("version true", work_body(EVENT_RUN, EVENT_FACTORY, v=True), "version"),
            ("version missing", work_body(EVENT_RUN, EVENT_FACTORY, v=_ABSENT), "version"),
            ("duplicate keys, last wins", '{"v": 1, "v": 2}', "version"),
            ("NaN version", '{"v": NaN}', "version"),
            ("factory missing", work_body(EVENT_RUN, _ABSENT), "factoryId"),  # type: ignore[arg-type]
            ("factory not an id", work_body(EVENT_RUN, "adf-events"), "factory"),
            ("factory with NUL", work_body(EVENT_RUN, _factory_id(name="a\x00")), "factory"),
            ("factory with RTL", work_body(EVENT_RUN, _factory_id(name=RTL + "a")), "factory"),
            ("factory of 10k characters", work_body(EVENT_RUN, _factory_id(name=LONG)), "factory"),
            ("factory a number", work_body(EVENT_RUN, 5), "factory"),  # type: ignore[arg-type]
            ("runId missing", work_body(_ABSENT, EVENT_FACTORY), "runId"),  # type: ignore[arg-type]
            ("runId a number", work_body(5, EVENT_FACTORY), "runId"),  # type: ignore[arg-type]
            ("runId with a slash", work_body("a/b", EVENT_FACTORY), "runId"),
            ("runId with a newline", work_body(EVENT_RUN + "\n", EVENT_FACTORY), "runId"),
            ("waits negative", work_body(EVENT_RUN, EVENT_FACTORY, waits=-1), "waits"),
            ("waits as text", work_body(EVENT_RUN, EVENT_FACTORY, waits="3"), "waits"),
            ("waits a float", work_body(EVENT_RUN, EVENT_FACTORY, waits=1.5), "waits"),
            ("waits true", work_body(EVENT_RUN, EVENT_FACTORY, waits=True), "waits"),
            ("waits null", work_body(EVENT_RUN, EVENT_FACTORY, waits=None), "waits"),
            ("eventId of 10k characters", work_body(EVENT_RUN, EVENT_FACTORY, eventId=LONG), "event id"),
            ("eventId with NUL", work_body(EVENT_RUN, EVENT_FACTORY, eventId="e\x00"), "event id"),
            ("a run that does not exist", work_body(EVENT_RUN, EVENT_FACTORY), "not found"),
            ("a factory that does not exist", work_body(
                EVENT_RUN, _factory_id(name="no-such-factory")), "not found")]:
        cases.append(Case(f"queue: {name}", "queue", b64(text), "poison", reason))
    # Valid but odd work messages, each for a run of its own that is served: they are pushed.
    for name, fields in [("eventId an object", {"eventId": {"x": 1}}), ("eventId missing", {"eventId": _ABSENT}),
                         ("receivedAt missing", {"receivedAt": _ABSENT}), ("unknown extra fields", {"extra": [1, 2]}),
                         ("waits far beyond the limit of a run that ended", {"waits": 10**6}),
                         ("a 30 KB extra field", {"padding": "p" * 30_000}), ("version 1.0", {"v": 1.0})]:
        doc = simple_copy_record(f"queue {name}")
        body = work_body(str(doc["pipelineRun"]["runId"]), str(doc["factory"]), **fields)
        cases.append(Case(f"queue: {name}", "queue", b64(body), "pushed", serves=doc))
    return cases


# ------------------------------------------------------------------------------------------------------- runs

def factory_of(name: str) -> str:
    return _factory_id(rg="rg-hostile", name=f"hostile-{uuid.uuid5(_NAMESPACE, name).hex[:16]}")


def run_id_of(name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "run:" + name))


def run_record(name: str, activities: list[Any], runs: list[Any], *, datasets: Sequence[Any] = (),
               linked_services: Sequence[Any] = (), dataflows: Sequence[Any] = (),
               parameters: Any = None, pipeline_name: str = "Load", pipeline_parameters: Any = None) -> dict[str, Any]:
    """A run record of its own factory and run id, in the API's body shapes."""
    factory = factory_of(name)
    properties: dict[str, Any] = {"activities": activities}
    if pipeline_parameters is not None:
        properties["parameters"] = pipeline_parameters
    return copy.deepcopy({
        "factory": factory,
        "pipelineRun": {"runId": run_id_of(name), "pipelineName": pipeline_name, "status": "Succeeded",
                        "runStart": "2026-11-24T01:00:00Z", "runEnd": "2026-11-24T01:05:00Z",
                        "parameters": {"day": "2026-11-24"} if parameters is None else parameters,
                        "invokedBy": {"name": "Manual", "id": "m-1", "invokedByType": "Manual"}},
        "activityRuns": runs,
        "pipelines": {pipeline_name: {"id": f"{factory}/pipelines/{pipeline_name}", "name": pipeline_name,
                                      "properties": properties}},
        "datasets": {d["name"]: d for d in datasets},
        "linkedServices": {ls["name"]: ls for ls in linked_services},
        "dataflows": {df["name"]: df for df in dataflows},
    })


def blob_ls(name: str = "RawBlob", **props: Any) -> dict[str, Any]:
    return linked_service(name, "AzureBlobStorage", props or {"serviceEndpoint": "https://contosoraw.blob.core.windows.net/"})


def sql_ls(name: str = "SalesSql", **props: Any) -> dict[str, Any]:
    return linked_service(name, "AzureSqlDatabase", props or {
        "connectionString": "Integrated Security=False;Encrypt=True;Data Source=contoso-sql.database.windows.net;"
                            "Initial Catalog=sales;User ID=loader",
        "password": {"type": "SecureString", "value": "**********"}})


def csv_ds(name: str = "SalesCsv", ls: str = "RawBlob", **location: Any) -> dict[str, Any]:
    loc = {"type": "AzureBlobStorageLocation", "container": "sales",
           "folderPath": expr("@concat('daily/', dataset().day)"), "fileName": "sales.csv", **location}
    return dataset(name, "DelimitedText", ls, {"location": loc}, parameters={"day": {"type": "String"}},
                   schema=["id", "amount"])


def table_ds(name: str = "SalesTable", ls: str = "SalesSql", **props: Any) -> dict[str, Any]:
    return dataset(name, "AzureSqlTable", ls, {"schema": "dbo", "table": "DailySales", **props},
                   schema=["id", "amount"])


def simple_copy_record(name: str, *, csv: dict[str, Any] | None = None, table: dict[str, Any] | None = None,
                       blob: dict[str, Any] | None = None, sql: dict[str, Any] | None = None,
                       activity: Callable[[dict[str, Any]], None] | None = None,
                       run: Callable[[dict[str, Any]], None] | None = None, activity_name: str = "CopySales",
                       activity_type: str = "Copy", **options: Any) -> dict[str, Any]:
    """A Copy from a blob CSV to an SQL table, with one part made hostile."""
    csv, table = csv or csv_ds(), table or table_ds()
    definition = copy_activity(activity_name, csv["name"], table["name"],
                               source_params={"day": expr("@pipeline().parameters.day")})
    if activity:
        activity(definition)
    activity_run_body = activity_run(activity_name, activity_type, run_id_of(name + "/a"),
                                     output={"rowsCopied": 10, "dataWritten": 100,
                                             "reportLineageToPurview": {"status": "NotReported"}})
    if run:
        run(activity_run_body)
    return run_record(name, [definition], [activity_run_body], datasets=[csv, table],
                      linked_services=[blob or blob_ls(), sql or sql_ls()], **options)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted path (``a.b.c``) of a body, creating objects on the way."""
    def mutate(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = doc
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return mutate


def _run_copy_cases() -> Iterator[tuple[str, dict[str, Any], Landing, str, str]]:
    """(name, record, landing, reason, defect) for Copy runs."""
    pipeline = "pipelineName"
    for label, value, landing, reason in [
            ("NUL", "Lo\x00ad", "poison", pipeline), ("a newline", "Lo\nad", "poison", pipeline),
            ("an RTL override", "Load" + RTL + "gpj.exe", "poison", "bidirectional"),
            ("a slash", "Load/../../x", "poison", "slash"), ("a backslash", "Load\\x", "poison", "slash"),
            ("10k characters", LONG, "poison", "characters"), ("only spaces", "   ", "poison", "blank"),
            ("'#'", "Load#1", "pushed", ""), ("'%'", "Load%20x", "pushed", ""),
            ("quotes", "Load \"q\" 'x'", "pushed", ""), ("unicode", "Ladung-Ü-数据", "pushed", ""),
            ("an emoji", "Load🚀", "pushed", "")]:
        name = f"run: pipeline name with {label}"
        yield name, simple_copy_record(name, pipeline_name=value), landing, reason, ""
    for label, value, landing, reason in [
            ("NUL", "Copy\x00", "skipped", "activity name"), ("a newline", "Copy\nSales", "skipped", "control"),
            ("an RTL override", "Copy" + RTL, "skipped", "bidirectional"),
            ("a slash", "Copy/Sales", "skipped", "slash"),
            ("10k characters", LONG, "skipped", "characters"), ("'#'", "Copy#1", "pushed", ""),
            ("'%'", "Copy%41", "pushed", ""), ("quotes", "Copy 'q' \"x\"", "pushed", ""),
            ("unicode", "Kopieren-Ü", "pushed", "")]:
        name = f"run: activity name with {label}"
        yield name, simple_copy_record(name, activity_name=value), landing, reason, ""
    for label, value in [("NUL", "Sales\x00Csv"), ("a slash", "Sales/Csv"), ("'#'", "Sales#Csv"),
                         ("'%'", "Sales%2FCsv"), ("quotes", "Sales'\"Csv"), ("unicode", "Verkäufe"),
                         ("an RTL override", "Sales" + RTL), ("10k characters", "D" + LONG)]:
        name = f"run: dataset name with {label}"
        yield name, simple_copy_record(name, csv=csv_ds(value)), "pushed", "", ""
    for label, value in [("NUL", "Raw\x00Blob"), ("a slash", "Raw/Blob"), ("unicode", "Rohdaten"),
                         ("10k characters", "L" + LONG)]:
        name = f"run: linked service name with {label}"
        yield name, simple_copy_record(name, csv=csv_ds(ls=value), blob=blob_ls(value)), "pushed", "", ""
    for label, value, landing, reason in [
            ("NUL", "Daily\x00Sales", "skipped", "control character"),
            ("a newline", "Daily\nSales", "skipped", "control character"),
            ("an RTL override", RTL + "selaS", "skipped", "bidirectional"),
            ("a lone surrogate", "Daily\ud800", "skipped", "surrogate"),
            ("10k characters", LONG, "skipped", "characters"), ("a slash", "a/b", "skipped", "contains '/'"),
            ("only spaces", "   ", "skipped", "names no table"), ("'#'", "Daily#Sales", "pushed", ""),
            ("'%'", "Daily%Sales", "pushed", ""), ("quotes", "Daily'\"Sales", "pushed", ""),
            ("unicode", "Umsätze_数据", "pushed", ""), ("spaces", "Daily Sales", "pushed", ""),
            ("brackets", "[Daily Sales]", "pushed", "")]:
        name = f"run: table name with {label}"
        yield name, simple_copy_record(name, table=table_ds(table=value)), landing, reason, ""
    name = "run: schema name with NUL"
    yield name, simple_copy_record(name, table=table_ds(schema="db\x00o")), "skipped", "control character", ""
    name = "run: database name with NUL"
    yield name, simple_copy_record(name, sql=sql_ls(connectionString="Data Source=contoso-sql.database.windows.net;"
                                                                      "Initial Catalog=sa\x00les")), \
        "skipped", "control character", ""
    for label, location, landing, reason in [
            ("NUL in the folder", {"folderPath": "daily\x00/x"}, "skipped", "control character"),
            ("'..' in the folder", {"folderPath": "daily/../../secrets"}, "skipped", "names no file or folder"),
            ("RTL in the folder", {"folderPath": "daily/" + RTL + "vsc"}, "skipped", "bidirectional"),
            ("a 10k-character file name", {"fileName": LONG}, "skipped", "characters"),
            ("a 3k-character path of short segments", {"folderPath": "a/" * 1_500}, "skipped", "path of"),
            ("NUL in the container", {"container": "sal\x00es"}, "skipped", "control character"),
            ("an empty container", {"container": ""}, "skipped", "container"),
            ("'#' in the file name", {"fileName": "sales#1.csv"}, "pushed", ""),
            ("'%' in the file name", {"fileName": "sales%20.csv"}, "pushed", ""),
            ("a wildcard", {"fileName": "sales*.csv"}, "pushed", ""),
            ("quotes in the folder", {"folderPath": "da'ily/\"x\""}, "pushed", ""),
            ("unicode in the folder", {"folderPath": "täglich/数据"}, "pushed", ""),
            ("braces in the folder", {"folderPath": "daily/{year}"}, "pushed", ""),
            ("duplicate slashes", {"folderPath": "//daily///x//"}, "pushed", "")]:
        name = f"run: path with {label}"
        yield name, simple_copy_record(name, csv=csv_ds(**location)), landing, reason, ""
    for label, endpoint, landing, reason in [
            ("NUL", "https://contoso\x00raw.blob.core.windows.net/", "skipped", "not a valid host name"),
            ("an unbalanced IPv6 bracket", "https://[::1/", "skipped", "no host"),
            ("no host", "https:///path", "skipped", "no host"),
            ("user info and a query", "https://user:pass@contosoraw.blob.core.windows.net/?sv=1&sig=x", "pushed", ""),
            ("a port that does not exist", "https://contosoraw.blob.core.windows.net:99999/", "pushed", "")]:
        name = f"run: storage endpoint with {label}"
        yield name, simple_copy_record(name, blob=blob_ls(serviceEndpoint=endpoint)), landing, reason, ""
    # unknown or mismatched types
    for label, kind, reason in [("an unknown activity type", "Foo", "unsupported activity type"),
                                ("a lower-case 'copy'", "copy", "unsupported activity type"),
                                ("a Web activity", "WebActivity", "move no data"),
                                ("Execute Pipeline", "ExecutePipeline", "invoked pipeline"),
                                ("a Data Flow type on a Copy definition", "ExecuteDataFlow", "drift: the activity is"),
                                ("an SSIS type on a Copy definition", "ExecuteSSISPackage", "drift: the activity is")]:
        name = f"run: {label}"
        yield name, simple_copy_record(name, activity_type=kind), "skipped", reason, ""
    name = "run: an unknown dataset type"
    unknown_ds = dataset("SalesTable", "HttpFile", "SalesSql", {"relativeUrl": "x"})
    yield name, simple_copy_record(name, table=unknown_ds), "skipped", "dataset type 'HttpFile'", ""
    name = "run: an unknown linked service type"
    yield name, simple_copy_record(name, sql=linked_service("SalesSql", "Oracle", {"host": "db"})), \
        "skipped", "linked service type 'Oracle'", ""
    name = "run: a linked service without a type"
    yield name, simple_copy_record(name, sql={"name": "SalesSql", "properties": {"typeProperties": {}}}), \
        "skipped", "is not supported", ""
    # broken expressions
    for label, folder, landing, reason in [
            ("'@{' unterminated", "daily/@{pipeline().parameters.day", "skipped", "unterminated '@{'"),
            ("'@concat(' unclosed", "@concat('daily/', ", "skipped", "broken expression"),
            ("an unbalanced quote", "@concat('daily/, 'x')", "skipped", "broken expression"),
            ("an unknown function", "@frobnicate('x')", "skipped", "unknown function"),
            ("nesting 70 deep", "@" + "concat(" * 70 + "'x'" + ")" * 70, "skipped", "nested deeper"),
            ("a member chain 100 long", "@pipeline().parameters" + ".a" * 100, "skipped", "nested deeper"),
            ("range of a billion", "@string(range(0, 1000000000))", "skipped", "range()"),
            ("replace that explodes", "@" + "replace(" * 6 + "'aaaaaaaaaa'" + ", 'a', 'aaaaaaaaaa')" * 6,
             "skipped", "replace()"),
            ("JSON nested 5000 deep", "@string(json(pipeline().parameters.deep))", "skipped", "json()"),
            ("item() outside a loop", "@item().folder", "skipped", "unresolvable"),
            ("an activity output", "@activity('Lookup').output.firstRow.x", "skipped", "unresolvable"),
            ("a missing parameter", "@pipeline().parameters.nope", "skipped", "unresolvable"),
            ("utcnow()", "@formatDateTime(utcnow(), 'yyyy')", "skipped", "clock"),
            ("int() of text", "@string(int('abc'))", "skipped", "int()"),
            ("substring out of range", "@substring('abc', 5, 1)", "skipped", "out of range"),
            ("division by zero", "@string(div(1, 0))", "skipped", "division by zero"),
            ("a 100k-character expression", "@concat('" + "z" * 100_001 + "')", "skipped", "longer than"),
            ("an escaped '@@'", "@@daily", "pushed", ""),
            ("text with an interpolation", "daily/@{pipeline().parameters.day}/x", "pushed", ""),
            ("an interpolated concat", "@{concat('da', 'ily')}", "pushed", "")]:
        name = f"run: expression with {label}"
        params = {"day": "2026-11-24", "deep": "[" * 5_000 + "]" * 5_000}
        yield name, simple_copy_record(name, csv=csv_ds(folderPath=folder), parameters=params), landing, reason, ""
    name = "run: an Expression wrapper whose value is a number"
    yield name, simple_copy_record(name, csv=csv_ds(folderPath={"type": "Expression", "value": 5})), \
        "skipped", "must be a string", ""
    name = "run: typeProperties nested 100 deep"
    deep_ds = csv_ds()
    deep_ds["properties"]["typeProperties"]["extra"] = _nested("x", 100)
    yield name, simple_copy_record(name, csv=deep_ds), "skipped", "nested deeper", ""
    name = "run: a broken dataset parameter"
    yield name, simple_copy_record(name, activity=lambda a: a["inputs"][0].update(
        parameters={"day": "@concat("})), "skipped", "parameter 'day'", ""
    name = "run: a SecureString pipeline parameter in a path"
    yield name, simple_copy_record(name, csv=csv_ds(folderPath="@pipeline().parameters.secret"),
                                   parameters={"day": "d", "secret": "hunter2"},
                                   pipeline_parameters={"secret": {"type": "SecureString"}}), \
        "skipped", "SecureString", ""
    # wrong shapes of definitions and runs
    wrong_shapes: list[tuple[str, dict[str, Any], Landing, str, str]] = [
        ("activity typeProperties is text", {"activity": _set("typeProperties", "x")}, "pushed", "", ""),
        ("inputs is an object", {"activity": _set("inputs", {"referenceName": "SalesCsv"})},
         "skipped", "without an input", ""),
        ("inputs hold text", {"activity": _set("inputs", ["SalesCsv"])}, "skipped", "reference is not an object", ""),
        ("a reference name is a number", {"activity": _set("inputs", [{"referenceName": 5}])},
         "skipped", "is not in the run record", ""),
        ("a reference name is an object", {"activity": _set("inputs", [{"referenceName": {"a": 1}}])},
         "skipped", "reference name is missing", ""),
        ("inputs is a number", {"activity": _set("inputs", 5)}, "skipped", "without an input", ""),
        ("policy is text", {"activity": _set("policy", "x")}, "pushed", "", ""),
        ("userProperties is text", {"activity": _set("userProperties", "x")}, "pushed", "", ""),
        ("a broken userProperty expression", {"activity": _set("userProperties", [{"name": "f", "value": "@item("}])},
         "pushed", "", ""),
        ("source and sink settings are not objects", {"activity": _set("typeProperties", {
            "source": "x", "sink": 5, "translator": "y"})}, "pushed", "", ""),
        ("a translator of the wrong shape", {"activity": _set("typeProperties.translator", {
            "mappings": [5, None, {"source": {"name": 5}, "sink": "x"}], "columnMappings": 5})}, "pushed", "", ""),
        ("run input is text", {"run": _set("input", "x")}, "pushed", "", ""),
        ("run input of the wrong shape", {"run": _set("input", {"source": {"sqlReaderQuery": 5, "storeSettings": "x"},
                                                               "translator": "x"})}, "pushed", "", ""),
        ("run output is text", {"run": _set("output", "x")}, "pushed", "", ""),
        ("rowsCopied is text", {"run": _set("output.rowsCopied", "12")}, "pushed", "", ""),
        ("rowsCopied beyond a long", {"run": _set("output.rowsCopied", 10**30)}, "pushed", "", ""),
        ("dataWritten negative", {"run": _set("output.dataWritten", -5)}, "pushed", "", ""),
        ("run userProperties is text", {"run": _set("userProperties", "x")}, "pushed", "", ""),
        ("run status is a number", {"run": _set("status", 5)}, "skipped", "activity run 5", ""),
        ("run status is 10k characters", {"run": _set("status", LONG)}, "skipped", "lineage is recorded for", ""),
        ("run error is text and the run failed", {"run": lambda r: r.update(error="x", status="Failed")},
         "skipped", "Failed", ""),
        ("a failed run with a 100k-character error", {"run": lambda r: r.update(
            status="Failed", error={"message": "e" * 100_000})}, "skipped", "Failed", ""),
        ("a failed run whose error has control characters", {"run": lambda r: r.update(
            status="Failed", error={"message": "bad\x00\x1b[31m" + RTL})}, "skipped", "Failed", ""),
        ("run start is not a time", {"run": _set("activityRunStart", "yesterday-ish")}, "pushed", "", ""),
    ]
    for label, mutations, landing, reason, defect in wrong_shapes:
        name = f"run: {label}"
        yield name, simple_copy_record(name, **mutations), landing, reason, defect
    for label, mutate, landing, reason, defect in [
            ("the pipeline's activities is text", lambda d: _set("properties.activities", "x")(
                d["pipelines"]["Load"]), "skipped", "is no longer in the pipeline", ""),
            ("the pipeline's activities hold junk", lambda d: d["pipelines"]["Load"]["properties"]["activities"].extend(
                [5, None, {"name": 5}, {"name": "Other", "typeProperties": "x"}]), "pushed", "", ""),
            ("the pipeline's properties is text", lambda d: _set("properties", "x")(d["pipelines"]["Load"]),
             "skipped", "is no longer in the pipeline", ""),
            ("the pipeline definition is missing", lambda d: d.update(pipelines={}),
             "skipped", "holds no definition of pipeline", ""),
            ("the dataset's typeProperties is text", lambda d: _set("properties.typeProperties", "x")(
                d["datasets"]["SalesCsv"]), "skipped", "without a location", ""),
            ("the dataset's linkedServiceName is text", lambda d: _set("properties.linkedServiceName", "RawBlob")(
                d["datasets"]["SalesCsv"]), "skipped", "linked service reference is not an object", ""),
            ("the dataset's schema is text", lambda d: _set("properties.schema", "x")(d["datasets"]["SalesCsv"]),
             "pushed", "", ""),
            ("the dataset's properties is text", lambda d: d["datasets"]["SalesCsv"].update(properties="x"),
             "skipped", "reference is not an object", ""),
            ("the linked service's typeProperties is text", lambda d: _set("properties.typeProperties", "x")(
                d["linkedServices"]["RawBlob"]), "skipped", "not visible", ""),
            ("the linked service's type is a list", lambda d: _set("properties.type", ["x"])(
                d["linkedServices"]["RawBlob"]), "skipped", "is not supported", ""),
            ("the storage endpoint is a number", lambda d: _set("properties.typeProperties.serviceEndpoint", 5)(
                d["linkedServices"]["RawBlob"]), "skipped", "not visible", ""),
            ("the connection string is a Key Vault reference", lambda d: _set(
                "properties.typeProperties.connectionString", {"type": "AzureKeyVaultSecret", "secretName": "s",
                                                               "store": {"referenceName": "kv"}})(
                d["linkedServices"]["SalesSql"]), "skipped", "not visible", ""),
            ("the connection string names an empty server", lambda d: _set(
                "properties.typeProperties.connectionString", "Data Source=tcp:,1433;Initial Catalog=x")(
                d["linkedServices"]["SalesSql"]), "skipped", "not a valid host name", ""),
            ("global parameters of odd shapes", lambda d: d.update(globalParameters={"g": 5, "h": None}),
             "pushed", "", ""),
            ("pipeline parameters is text", lambda d: d["pipelineRun"].update(parameters="x"),
             "skipped", "unresolvable", ""),
            ("invokedBy is text", lambda d: d["pipelineRun"].update(invokedBy="x"), "pushed", "", ""),
            ("the pipeline run lacks its pipeline name", lambda d: d["pipelineRun"].pop("pipelineName"),
             "poison", "pipelineName", ""),
            ("the pipeline run's pipeline name is a number", lambda d: d["pipelineRun"].update(pipelineName=7),
             "poison", "pipelineName", ""),
            ("an activity run without a type", lambda d: d["activityRuns"][0].pop("activityType"),
             "poison", "activityType", ""),
            ("an activity run whose name is a number", lambda d: d["activityRuns"][0].update(activityName=3),
             "poison", "activityName", ""),
            ("an activity run with an empty name", lambda d: d["activityRuns"][0].update(activityName=""),
             "poison", "activityName", ""),
            ("an activity run without an id", lambda d: d["activityRuns"][0].pop("activityRunId"),
             "poison", "activityRunId", ""),
            ("no activity runs", lambda d: d.update(activityRuns=[]), "skipped", "no activity runs", ""),
            ("a ForEach nested 100 deep", _deep_foreach, "pushed", "", "")]:
        name = f"run: {label}"
        doc = simple_copy_record(name)
        mutate(doc)
        yield name, doc, landing, reason, defect


def _deep_foreach(doc: dict[str, Any]) -> None:
    activities = doc["pipelines"]["Load"]["properties"]["activities"]
    inner = activities[0]
    for depth in range(100):
        inner = {"name": f"Loop{depth}", "type": "ForEach", "typeProperties": {"activities": [inner]}}
    activities[:] = [inner]


def sample_record(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return doc


def dataflow_record(name: str, *, script: str | None = None, lines: Any = None,
                    mutate: Callable[[dict[str, Any], dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The inline-sink data flow sample as a run of its own, with its script replaced or its definition changed."""
    doc = sample_record("dataflow_inline_sink.json")
    doc["factory"], doc["pipelineRun"]["runId"] = factory_of(name), run_id_of(name)
    props = doc["dataflows"]["df_clean_orders"]["properties"]["typeProperties"]
    if script is not None:
        props.pop("scriptLines", None)
        props["script"] = script
    if lines is not None:
        props["scriptLines"] = lines
    if mutate:
        mutate(doc, props)
    return doc


def _run_dataflow_cases() -> Iterator[tuple[str, dict[str, Any], Landing, str, str]]:
    source = "source(allowSchemaDrift: true) ~> OrdersSource\n"
    for label, script, landing, reason in [
            ("an empty script", "", "skipped", "no source or sink"),
            ("words, not a script", "hello world", "skipped", "script not understood"),
            ("an unclosed parenthesis", "source(output(a as string) ~> OrdersSource", "skipped", "unclosed '('"),
            ("an unterminated string", "source(x: 'abc) ~> OrdersSource\n", "skipped", "unterminated string"),
            ("no stream name after '~>'", "source() ~>", "skipped", "expected a stream name"),
            ("an empty statement", "~> OrdersSource", "skipped", "empty statement"),
            ("a mismatched bracket", "source(a: [1, 2)) ~> OrdersSource", "skipped", "mismatched"),
            ("text after the last statement", source + "OrdersSource sink() ~> SqlSink\n trailing words",
             "skipped", "text after the last statement"),
            ("a broken parameters block", "parameters{ x as }\n" + source, "skipped", "cannot read parameter"),
            ("parameters without a brace", "parameters x\n" + source, "skipped", "parameters block"),
            ("parameters that refer to each other", "parameters{ a as string ($b), b as string ($a) }\n" + source
             + "OrdersSource sink(tableName: ($a)) ~> SqlSink", "skipped", "too deeply"),
            ("an unknown function in an option", source + "OrdersSource sink(tableName: evil('x')) ~> SqlSink",
             "skipped", "cannot evaluate"),
            ("a missing parameter", source + "OrdersSource sink(tableName: $nope) ~> SqlSink",
             "skipped", "has no value"),
            ("NUL in the sink table", source + "OrdersSource sink(schemaName: 'dbo', tableName: 'a\x00b') ~> SqlSink",
             "skipped", "control character"),
            ("an RTL override in the sink table", source + f"OrdersSource sink(tableName: 'a{RTL}b') ~> SqlSink",
             "skipped", "bidirectional"),
            ("a 10k-character sink table", source + f"OrdersSource sink(tableName: '{LONG}') ~> SqlSink",
             "skipped", "characters"),
            ("a slash in the sink table", source + "OrdersSource sink(tableName: 'a/b') ~> SqlSink",
             "skipped", "contains '/'"),
            ("5000 nested parentheses", "source(" + "(" * 5_000 + ")" * 5_000 + ") ~> OrdersSource",
             "skipped", "no source or sink"),
            ("a non-ASCII stream name", "source() ~> Ördérs", "skipped", "expected a stream name"),
            ("a script over 2 MB", "source(a: '" + "x" * 2_000_001 + "') ~> OrdersSource", "skipped", "longer than"),
            ("a split with no outputs", source + "OrdersSource split() ~> S@\nS sink(tableName: 't') ~> SqlSink",
             "skipped", "bad stream output"),
            ("a cycle of transformations", "A derive() ~> B\nB derive() ~> A\nA sink(tableName: 't') ~> SqlSink",
             "pushed", "")]:
        name = f"run: data flow script with {label}"
        yield name, dataflow_record(name, script=script), landing, reason, ""
    for label, kwargs, landing, reason in [
            ("scriptLines that are not text", {"lines": [1, 2]}, "skipped", "has no script"),
            ("no script", {"mutate": lambda d, p: p.pop("scriptLines")}, "skipped", "has no script"),
            ("no data flow definition", {"mutate": lambda d, p: d.update(dataflows={})},
             "skipped", "is not in the run record"),
            ("a data flow reference that is a number", {"mutate": lambda d, p: d["pipelines"]["CleanOrders"][
                "properties"]["activities"][0]["typeProperties"]["dataflow"].update(referenceName=5)},
             "skipped", "is not in the run record")]:
        name = f"run: data flow with {label}"
        yield name, dataflow_record(name, **kwargs), landing, reason, ""
    name = "run: data flow whose properties is text"
    yield name, dataflow_record(name, mutate=lambda d, p: d["dataflows"]["df_clean_orders"].update(properties="x")), \
        "skipped", "has no script", ""
    name = "run: data flow with sources that are text"
    yield name, dataflow_record(name, mutate=lambda d, p: p.update(sources="x")), "pushed", "not declared", ""


_DTS = 'xmlns:DTS="www.microsoft.com/SqlServer/Dts"'
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
    + f']><DTS:Executable {_DTS}>&lol9;</DTS:Executable>'
)
EXTERNAL_ENTITY = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                   f'<DTS:Executable {_DTS}>&xxe;</DTS:Executable>')
PARAMETER_ENTITY = '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><x/>'


def ssis_record(name: str, *, content: Any = None,
                mutate: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The inline SSIS package sample as a run of its own, with its package or activity changed."""
    doc = sample_record("ssis_inline_package.json")
    doc["factory"], doc["pipelineRun"]["runId"] = factory_of(name), run_id_of(name)
    props = doc["pipelines"]["StageCustomersSsis"]["properties"]["activities"][0]["typeProperties"]
    if content is not None:
        props["packageLocation"]["typeProperties"]["packageContent"] = content
    if mutate:
        mutate(props)
    return doc


def _sample_package() -> str:
    props = sample_record("ssis_inline_package.json")["pipelines"]["StageCustomersSsis"]["properties"]
    return str(props["activities"][0]["typeProperties"]["packageLocation"]["typeProperties"]["packageContent"])


def _run_ssis_cases() -> Iterator[tuple[str, dict[str, Any], Landing, str, str]]:
    refused = "DTDs and entities are not allowed"
    package = _sample_package()
    for label, content, landing, reason in [
            ("billion laughs", BILLION_LAUGHS, "skipped", refused),
            ("billion laughs in base64", base64.b64encode(BILLION_LAUGHS.encode()).decode(), "skipped", refused),
            ("an external entity", EXTERNAL_ENTITY, "skipped", refused),
            ("a parameter entity", PARAMETER_ENTITY, "skipped", refused),
            ("an XInclude", f'<DTS:Executable {_DTS} xmlns:xi="http://www.w3.org/2001/XInclude">'
                            '<xi:include href="/etc/passwd" parse="text"/></DTS:Executable>',
             "skipped", "no source or sink"),
            ("text that is not XML", "<<<not xml", "skipped", "not well-formed"),
            ("base64 that is not XML", "!!!notbase64", "skipped", "neither XML nor base64"),
            ("base64 of binary", base64.b64encode(b"\xff\xfe\x00\x01").decode(), "skipped", "neither XML nor base64"),
            ("another root element", "<root/>", "skipped", "not an SSIS package"),
            ("only spaces", "   ", "skipped", "without packageContent"),
            ("a number", 5, "skipped", "without packageContent"),
            ("NUL in the XML", f"<DTS:Executable {_DTS}>\x00</DTS:Executable>", "skipped", "not well-formed"),
            ("elements nested 50000 deep", f"<DTS:Executable {_DTS}>" + "<a>" * 50_000 + "</a>" * 50_000
             + "</DTS:Executable>", "skipped", "no source or sink"),
            ("a missing connection manager", package.replace(
                'connectionManagerRefId="Package.ConnectionManagers[SalesDb]"',
                'connectionManagerRefId="Package.ConnectionManagers[Nope]"').replace(
                'connectionManagerID="Package.ConnectionManagers[SalesDb]"',
                'connectionManagerID="Package.ConnectionManagers[Nope]"'), "pushed", "is not in the package"),
            ("NUL in a table name", package.replace("[dbo].[Customers]", "[dbo].[Cust&#0;omers]"),
             "skipped", "not well-formed"),
            ("RTL in a table name", package.replace("[dbo].[Customers]", f"[dbo].[Cust{RTL}omers]"),
             "pushed", "bidirectional"),
            ("a 10k-character table name", package.replace("[dbo].[Customers]", f"[dbo].[{LONG}]"),
             "pushed", "characters")]:
        name = f"run: SSIS package with {label}"
        yield name, ssis_record(name, content=content), landing, reason, ""
    for label, mutate, reason in [
            ("a packageLocation that is text", lambda p: p.update(packageLocation="x"), "no packageLocation"),
            ("a package in SSISDB", lambda p: p.update(packageLocation={"type": "SSISDB", "packagePath": "a/b.dtsx"}),
             "not inline"),
            ("location typeProperties that is text", lambda p: p["packageLocation"].update(typeProperties="x"),
             "without packageContent")]:
        name = f"run: SSIS activity with {label}"
        yield name, ssis_record(name, mutate=mutate), "skipped", reason, ""
    name = "run: SSIS activity with connection managers of the wrong shape"
    yield name, ssis_record(name, mutate=lambda p: p.update(packageConnectionManagers={
        "StagingDb": "x", "Other": {"ConnectionString": 5}}, projectConnectionManagers=[1])), "pushed", "", ""


def run_cases() -> list[Case]:
    """Runs served by the local Data Factory. A ``pushed`` case with a reason pushes what it can and says why it
    left the rest out (in its activity's row)."""
    return [Case(name, "run", doc, landing, reason, defect, serves=doc)
            for name, doc, landing, reason, defect in (*_run_copy_cases(), *_run_dataflow_cases(),
                                                       *_run_ssis_cases())]


# ------------------------------------------------------------------------------------------------ whole records

def record_cases() -> list[Case]:
    good = simple_copy_record("record: base")
    cases: list[tuple[str, Any, str]] = [
        ("a JSON list", [good], "must be a JSON object"), ("a JSON string", "record", "must be a JSON object"),
        ("JSON null", None, "must be a JSON object"), ("a number", 7, "must be a JSON object")]
    for key in ("factory", "pipelineRun", "activityRuns"):
        cases.append((f"no {key}", {k: v for k, v in good.items() if k != key}, f"required key '{key}'"))
    cases += [
        ("activityRuns is an object", {**good, "activityRuns": {"a": 1}}, "must be a list"),
        ("an activity run that is a number", {**good, "activityRuns": [5]}, "must be an object"),
        ("pipelineRun is a list", {**good, "pipelineRun": []}, "must be an object"),
        ("a factory that is not a resource id", {**good, "factory": "adf"}, "resource id"),
        ("a factory with NUL", {**good, "factory": _factory_id(name="a\x00b")}, "invalid segment"),
        ("datasets is a list", {**good, "datasets": []}, "keyed by name"),
        ("linkedServices is text", {**good, "linkedServices": "x"}, "keyed by name"),
        ("a pipeline name with an RTL override", {**good, "pipelineRun": {**good["pipelineRun"],
                                                                          "pipelineName": "a" + RTL}},
         "bidirectional"),
    ]
    return [Case(f"record: {name}", "record", doc, "rejected", reason) for name, doc, reason in cases]
