"""The run record: everything Data Factory's REST API says about one pipeline run, as one JSON document.

Its values are the API's own response bodies, unchanged, so a record read from Azure, served by the local Data
Factory server or written by hand for a test all go through the same code. Only ``factory``, ``pipelineRun`` and
``activityRuns`` are required: a run of a pipeline without datasets needs nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lineage.extract.jsontext import JSONTextError, loads
from lineage.extract.stores.naming import unsafe_character

JSON = dict[str, Any]

_FACTORY_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.DataFactory/factories/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._()-]{0,259}$")
MAX_NAME_CHARS = 260  # Data Factory's limit for the names of its pipelines and other objects


class RunRecordError(ValueError):
    """The document is not a usable run record; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class FactoryId:
    """A Data Factory's identity, from its ARM resource id (the shape Purview uses as the factory's qualifiedName)."""

    subscription_id: str
    resource_group: str
    factory_name: str

    @classmethod
    def parse(cls, resource_id: str) -> FactoryId:
        """Validate a factory resource id; the fixed segments are case-insensitive as in ARM."""
        match = _FACTORY_ID.fullmatch(resource_id.strip()) if isinstance(resource_id, str) else None
        if match is None:
            raise RunRecordError(
                "factory must be a resource id like /subscriptions/<id>/resourceGroups/<rg>"
                f"/providers/Microsoft.DataFactory/factories/<name>, got {_preview(resource_id)}"
            )
        for part in ("sub", "rg", "name"):
            if not _NAME.fullmatch(match[part]):
                raise RunRecordError(f"factory resource id has an invalid segment {_preview(match[part])}")
        return cls(match["sub"], match["rg"], match["name"])

    @property
    def resource_id(self) -> str:
        """The canonical resource id, which is also Purview's qualifiedName for the factory."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.DataFactory/factories/{self.factory_name}"
        )


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A validated run record. Definitions are looked up by name, as Data Factory references them."""

    factory: FactoryId
    pipeline_run: Mapping[str, Any]
    activity_runs: tuple[Mapping[str, Any], ...]
    pipelines: Mapping[str, Any]
    datasets: Mapping[str, Any]
    linked_services: Mapping[str, Any]
    dataflows: Mapping[str, Any]
    global_parameters: Mapping[str, Any]

    @classmethod
    def from_text(cls, text: str | bytes) -> RunRecord:
        """Decode and check a run record's JSON text: RunRecordError for text that is not JSON anyone can read
        back (broken, nested too deeply, an integer of more than 4,300 digits) as for a wrong shape."""
        return cls.from_json(decode(text))

    @classmethod
    def from_json(cls, doc: Any) -> RunRecord:
        """Check the shape of a decoded run record; raise RunRecordError naming the first defect."""
        if not isinstance(doc, Mapping):
            raise RunRecordError("a run record must be a JSON object")
        for key in ("factory", "pipelineRun", "activityRuns"):
            if key not in doc:
                raise RunRecordError(f"run record lacks the required key {key!r}")
        pipeline_run = check_pipeline_run(doc["pipelineRun"])
        runs = doc["activityRuns"]
        if not isinstance(runs, list):
            raise RunRecordError("activityRuns must be a list (the items of queryActivityruns, all pages)")
        for index, run in enumerate(runs):
            if type(run) is not dict and not isinstance(run, Mapping):  # the exact type first: cheaper
                raise RunRecordError(f"activityRuns[{index}] must be an object")
            for key in ("activityRunId", "activityName", "activityType"):
                if not isinstance(run.get(key), str) or not run[key]:
                    raise RunRecordError(f"activityRuns[{index}].{key} must be a non-empty string")
        return cls(
            factory=FactoryId.parse(doc["factory"]),
            pipeline_run=pipeline_run,
            activity_runs=tuple(runs),
            pipelines=_definitions(doc, "pipelines"),
            datasets=_definitions(doc, "datasets"),
            linked_services=_definitions(doc, "linkedServices"),
            dataflows=_definitions(doc, "dataflows"),
            global_parameters=_definitions(doc, "globalParameters"),
        )

    @property
    def run_id(self) -> str:
        return str(self.pipeline_run["runId"])

    @property
    def pipeline_name(self) -> str:
        return str(self.pipeline_run["pipelineName"])

    def global_parameter_values(self) -> dict[str, Any]:
        """Global parameters as plain values (the API wraps each as ``{"type", "value"}``)."""
        return {
            name: spec.get("value") if isinstance(spec, Mapping) else spec
            for name, spec in self.global_parameters.items()
        }

    def system_variables(self) -> dict[str, Any]:
        """The ``pipeline().X`` system variables that a run record can answer."""
        run = self.pipeline_run
        invoked: Mapping[str, Any] = run["invokedBy"] if isinstance(run.get("invokedBy"), Mapping) else {}
        values = {
            "RunId": run.get("runId"),
            "Pipeline": run.get("pipelineName"),
            "DataFactory": self.factory.factory_name,
            "GroupId": run.get("runGroupId"),
            "TriggerTime": run.get("runStart"),
            "TriggerName": invoked.get("name"),
            "TriggerId": invoked.get("id"),
            "TriggerType": invoked.get("invokedByType"),
        }
        return {key: value for key, value in values.items() if value is not None}


def decode(text: str | bytes, what: str = "run record") -> Any:
    """JSON text of a run record or of one of the API bodies it is made of; RunRecordError, naming ``what``, for
    anything ``json.loads`` would fail on in any of its ways."""
    try:
        return loads(text)
    except JSONTextError as exc:
        raise RunRecordError(f"{what} {exc}") from None


def check_pipeline_run(pipeline_run: Any) -> Mapping[str, Any]:
    """A pipeline run body with a run id and a pipeline name that can name Purview entities; RunRecordError if not."""
    if not isinstance(pipeline_run, Mapping):
        raise RunRecordError("pipelineRun must be an object (the body of GET pipelineruns/{runId})")
    for key in ("runId", "pipelineName"):
        if not isinstance(pipeline_run.get(key), str) or not pipeline_run[key]:
            raise RunRecordError(f"pipelineRun.{key} must be a non-empty string")
    problem = name_problem(pipeline_run["pipelineName"])
    if problem:
        raise RunRecordError(f"pipelineRun.pipelineName {_preview(pipeline_run['pipelineName'])} is not a Data "
                             f"Factory name: {problem}")
    return pipeline_run


def name_problem(name: str) -> str | None:
    """Why a pipeline or activity name cannot be part of a qualifiedName, or None.

    Data Factory's names are at most 260 characters and never hold '/' or '\\'; a control character or a
    bidirectional mark would make the entity's name unreadable or deceptive in Purview.
    """
    if not name.strip():
        return "it is blank"
    if len(name) > MAX_NAME_CHARS:
        return f"it has {len(name)} characters (at most {MAX_NAME_CHARS})"
    if "/" in name or "\\" in name:
        return "it contains a slash"
    unsafe = unsafe_character(name)
    return f"it contains {unsafe}" if unsafe else None


def _definitions(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RunRecordError(f"{key} must be an object keyed by name")
    return value


def _preview(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "...'"
