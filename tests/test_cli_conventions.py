"""One set of conventions for every command: examples in each help, one output option, one set of time forms, and
argument values checked with the fix in the message."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta

import pytest

from lineage.cli import main as cli
from lineage.cli.main import main
from tests.conftest import SAMPLES

SAMPLE_FILES = sorted(SAMPLES.glob("*.json"))
FACTORY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/adf"


def commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = [()]
    parser = cli._parser()
    pending: list[tuple[tuple[str, ...], argparse.ArgumentParser]] = [((), parser)]
    while pending:
        path, current = pending.pop()
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found.append((*path, name))
                    pending.append(((*path, name), child))
    return found


@pytest.mark.parametrize("command", commands(), ids=lambda c: " ".join(c) or "python -m lineage")
def test_every_command_help_ends_with_examples_of_itself(command: tuple[str, ...],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    help_text = capsys.readouterr().out
    examples = help_text.split("\nexamples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith("  python -m lineage ") for line in examples)
    assert any(f"python -m lineage {' '.join(command)}".rstrip() in line for line in examples)


def test_there_are_commands_to_check() -> None:
    assert {("explain",), ("poison", "show"), ("doctor",), ("wrap",), ("backfill",)} <= set(commands())


def test_explain_of_several_files_is_one_json_document_or_one_flowchart(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in SAMPLE_FILES]
    assert main(["explain", *files]) == 0
    doc = json.loads(capsys.readouterr().out)  # one document: it parses
    assert [run["file"] for run in doc["runs"]] == [p.name for p in SAMPLE_FILES]
    assert main(["explain", *files, "--format", "mermaid"]) == 0
    graph = capsys.readouterr().out
    assert graph.count("flowchart LR") == 1 and "%%" not in graph
    assert graph.count("subgraph ") == graph.count("\n    end") >= 2  # grouped by pipeline
    assert main(["explain", files[0], "--output", "json"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert set(single) == {"entities", "activities"}
    assert main(["explain", files[0], "-o", "table"]) == 0
    table = capsys.readouterr().out
    assert table.startswith(f"{SAMPLE_FILES[0].name}: {len(single['entities'])} entities")
    assert all(f" {row['activityName']} (" in table for row in single["activities"])


@pytest.mark.parametrize("text", ["3d", "72h", "4320m", "3", "3.0d"])
def test_every_time_option_takes_the_same_ages(text: str) -> None:
    assert abs(cli._age(text) - timedelta(days=3)) < timedelta(seconds=5)
    assert abs(datetime.now(UTC) - cli._moment(text) - timedelta(days=3)) < timedelta(seconds=5)


def test_every_time_option_takes_an_iso_time_too() -> None:
    moment = datetime.now(UTC) - timedelta(days=2)
    assert cli._moment(moment.isoformat()) == moment
    assert abs(cli._age(moment.isoformat()) - timedelta(days=2)) < timedelta(seconds=5)
    assert cli._moment("2026-11-01") == datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["soon", "-3d", "nand", "infd", "2026-13-01"])
def test_a_time_no_form_reads_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="ISO time or date"):
        cli._moment(text)


def test_an_age_in_the_future_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    with pytest.raises(SystemExit):
        main(["poison", "list", "--older-than", later])
    assert "in the future" in capsys.readouterr().err


@pytest.mark.parametrize("endpoint", [
    "https://topic.westeurope-1.eventgrid.azure.net",
    "https://topic.westeurope-1.eventgrid.azure.net/",
    "https://topic.westeurope-1.eventgrid.azure.net/api/other",
    "https://topic.westeurope-1.eventgrid.azure.net/api/events?code=x",
])
def test_a_topic_url_that_is_not_the_events_endpoint_is_refused_with_the_right_one(
        endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wrap", "--factory", FACTORY, "--pipeline", "Load", "--topic-endpoint", endpoint, "--print"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().endswith("ends in /api/events (Event Grid takes events nowhere else): "
                                         "https://topic.westeurope-1.eventgrid.azure.net/api/events")


def test_the_events_endpoint_with_its_api_version_is_taken(capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = "https://topic.westeurope-1.eventgrid.azure.net/api/events?api-version=2018-01-01"
    assert main(["wrap", "--factory", FACTORY, "--pipeline", "Load", "--topic-endpoint", endpoint, "--print"]) == 0
    assert endpoint in capsys.readouterr().out
