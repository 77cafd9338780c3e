"""The Data Factory side of the event contract: what a factory runs to tell us a pipeline run has ended.

Data Factory emits no run-completed events of its own (field notes §1), so a pipeline publishes one to our Event
Grid topic with a Web activity authenticated by the factory's managed identity. Two ways are offered:

- a **wrapper pipeline** that runs the real one (Execute Pipeline, ``waitOnCompletion``), then publishes the child
  run's id whether it succeeded or failed, then fails if the child failed — so monitoring still shows the failure;
- a **Web activity** appended to a pipeline, which publishes the pipeline's own run id while the run is still in
  progress; the worker waits for it to end before reading it back.

Both send an Event Grid schema event whose ``data`` is exactly what ``lineage.service.events.run_ref`` accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from lineage.extract.jsontext import mapping
from lineage.extract.runrecord import FactoryId
from lineage.service import wiring
from lineage.service.events import EVENT_TYPE

EVENTGRID_RESOURCE = "https://eventgrid.azure.net"  # the token audience Event Grid accepts for Entra ID auth
RUN_ACTIVITY = "Run pipeline"
PUBLISH_ACTIVITY = "Publish run completed"
FAIL_ACTIVITY = "Fail as the pipeline did"
WRAPPER_SUFFIX = "_with_lineage"
_RETRY_POLICY = {"timeout": "0.00:05:00", "retry": 3, "retryIntervalInSeconds": 30, "secureOutput": False,
                 "secureInput": False}


def event_body(factory: FactoryId, run_id_expression: str, pipeline_expression: str) -> str:
    """An Event Grid event array as a Data Factory string with ``@{...}`` interpolations.

    The factory id is written as a literal (it is known when the artifact is made); the run id and pipeline name
    are expressions evaluated by Data Factory when the Web activity runs.
    """
    def literal(value: str) -> str:  # JSON-escaped, and '@' doubled as Data Factory strings require
        return json.dumps(value)[1:-1].replace("@", "@@")

    return (
        '[{"id":"@{' + run_id_expression + '}",'
        '"eventType":"' + EVENT_TYPE + '",'
        '"subject":"factories/' + literal(factory.factory_name) + '/pipelineruns/@{' + run_id_expression + '}",'
        '"eventTime":"@{utcnow()}",'
        '"dataVersion":"1.0",'
        '"data":{"runId":"@{' + run_id_expression + '}",'
        '"factoryId":"' + literal(factory.resource_id) + '",'
        '"pipelineName":"@{' + pipeline_expression + '}"}}]'
    )


def topic_endpoint(url: str, env: Mapping[str, str]) -> str:
    """The topic endpoint a factory will post to with its managed identity's token for Event Grid: HTTPS and an
    Event Grid host (``*.eventgrid.azure.net`` and the sovereign clouds' equivalents, more through
    ``LINEAGE_ALLOWED_HOST_SUFFIXES``). A wrapper pointed elsewhere would hand that token, and every run's id, to
    whoever owns the host; SettingsError instead."""
    checked = wiring.checked_endpoint(url, "--topic-endpoint", wiring.EVENTGRID_HOSTS, env)
    parts = urlsplit(checked)
    query_ok = all(pair.startswith("api-version=") for pair in parts.query.split("&") if pair)
    if parts.path.rstrip("/") != "/api/events" or not query_ok or parts.fragment:
        fixed = urlunsplit((parts.scheme, parts.netloc, "/api/events", "", ""))
        raise wiring.SettingsError("--topic-endpoint is the topic's endpoint, which ends in /api/events (Event Grid "
                                   f"takes events nowhere else): {fixed}")
    return checked


def publish_activity(topic_endpoint: str, body: str, depends_on: list[dict[str, Any]]) -> dict[str, Any]:
    """A Web activity that posts ``body`` to the topic with the factory's managed identity (no key anywhere)."""
    return {
        "name": PUBLISH_ACTIVITY,
        "type": "WebActivity",
        "dependsOn": depends_on,
        "policy": dict(_RETRY_POLICY),
        "userProperties": [],
        "typeProperties": {
            "method": "POST",
            "url": topic_endpoint,
            "headers": {"Content-Type": "application/json"},
            "body": {"value": body, "type": "Expression"},
            "authentication": {"type": "MSI", "resource": EVENTGRID_RESOURCE},
        },
    }


def wrapper_pipeline(factory: FactoryId, pipeline_name: str, pipeline: Mapping[str, Any],
                     topic_endpoint: str) -> dict[str, Any]:
    """The wrapper pipeline for ``pipeline_name`` (its definition gives the parameters to pass through)."""
    properties = mapping(pipeline.get("properties"))
    parameters = mapping(properties.get("parameters"))
    child_run = f"activity('{RUN_ACTIVITY}').output.pipelineRunId"
    body = event_body(factory, child_run, f"activity('{RUN_ACTIVITY}').output.pipelineName")
    run = {
        "name": RUN_ACTIVITY,
        "type": "ExecutePipeline",
        "dependsOn": [],
        "userProperties": [],
        "typeProperties": {
            "pipeline": {"referenceName": pipeline_name, "type": "PipelineReference"},
            "waitOnCompletion": True,
            "parameters": {name: {"value": f"@pipeline().parameters.{name}", "type": "Expression"}
                           for name in parameters},
        },
    }
    publish = publish_activity(topic_endpoint, body, [{"activity": RUN_ACTIVITY,
                                                       "dependencyConditions": ["Completed"]}])
    wrapped: dict[str, Any] = {
        "description": f"Runs {pipeline_name} and publishes its run-completed event for lineage in Purview.",
        "activities": [run, publish, fail_after(RUN_ACTIVITY, FAIL_ACTIVITY)],
        "parameters": dict(parameters),
        "annotations": ["lineage"],
    }
    if isinstance(properties.get("folder"), Mapping):
        wrapped["folder"] = dict(properties["folder"])
    return {"name": wrapper_name(pipeline_name), "properties": wrapped}


def end_activities(factory: FactoryId, topic_endpoint: str, after: list[str]) -> list[dict[str, Any]]:
    """Activities to append to a pipeline after its last ones (``after``): the Web activity, on any outcome, and for
    each of ``after`` a Fail activity that runs when it failed.

    Data Factory judges a run by its leaf activities: with the Web activity as the only leaf, a run whose last
    activity failed would be reported Succeeded. The Fail activities keep the failure (skipped when their activity
    succeeded, which leaves the run's outcome to their parents).
    """
    body = event_body(factory, "pipeline().RunId", "pipeline().Pipeline")
    publish = publish_activity(topic_endpoint, body, [{"activity": name, "dependencyConditions": ["Completed"]}
                                                      for name in after])
    return [publish, *(fail_after(name, f"Fail as {name} did"[:55]) for name in after)]


def fail_after(activity: str, name: str) -> dict[str, Any]:
    """A Fail activity that runs once the event is published if ``activity`` failed, with its error: the pipeline
    still fails as it would have without the Web activity (skipped when ``activity`` succeeded)."""
    quoted = activity.replace("'", "''")  # inside a single-quoted expression literal
    return {
        "name": name,
        "type": "Fail",
        "dependsOn": [{"activity": activity, "dependencyConditions": ["Failed"]},
                      {"activity": PUBLISH_ACTIVITY, "dependencyConditions": ["Completed"]}],
        "userProperties": [],
        "typeProperties": {"message": {"value": f"@activity('{quoted}').error.message", "type": "Expression"},
                           "errorCode": {"value": f"@activity('{quoted}').error.errorCode", "type": "Expression"}},
    }


def wrapper_name(pipeline_name: str) -> str:
    """Pipeline names are at most 140 characters; the wrapper keeps the suffix and shortens the rest."""
    return pipeline_name[:140 - len(WRAPPER_SUFFIX)] + WRAPPER_SUFFIX

