"""``python -m lineage poison``: list, show, replay and purge against Azurite, on envelopes and raw host bodies."""

from __future__ import annotations

import base64
import json

import pytest
from azure.storage.queue import QueueClient

from lineage.azure.queues import Queues
from lineage.cli.main import main
from lineage.local.azurite import Azurite
from lineage.service.events import WorkMessage, run_ref
from lineage.service.poison import PoisonEnvelope

pytestmark = pytest.mark.integration
FACTORY = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-1"


def work(run_id: str) -> str:
    return WorkMessage(run_ref({"runId": run_id, "factoryId": FACTORY}), None, "2026-11-24T01:00:00Z").to_json()


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch, azurite: Azurite) -> Queues:
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)
    monkeypatch.setenv("LINEAGE_QUEUE_NAME", "cli-runs")
    connected = Queues.connect("cli-runs", connection_string=azurite.connection_string)
    connected.create()
    connected.work.clear_messages()
    connected.poison.clear_messages()
    envelope = PoisonEnvelope(message=work("run-a"), error_class="PurviewError",
                              reason="HTTP 400 ATLAS-400-00-014: Given typename x was invalid", attempts=5,
                              first_seen="2026-11-24T01:00:00Z", last_failure="2026-11-24T01:05:00Z",
                              run_id="run-a", factory=FACTORY)
    connected.send_poison(envelope.to_json())
    raw = QueueClient.from_connection_string(azurite.connection_string, "cli-runs-poison")
    raw.send_message(base64.b64encode(work("run-b").encode()).decode())  # as the host moves a body
    return connected


def test_list_show_replay_and_purge(queues: Queues, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poison", "list"]) == 0
    text = capsys.readouterr().out
    assert "2 message(s)" in text and "run-a" in text and "ATLAS-400-00-014" in text and "HostPoison" in text

    assert main(["poison", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["count"] == 2
    by_run = {m["runId"]: m for m in listed["messages"]}
    assert set(by_run) == {"run-a", "run-b"}

    assert main(["poison", "show", by_run["run-a"]["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["attempts"] == 5
    assert main(["poison", "show", "no-such-id"]) == 1
    assert "no poison message 'no-such-id'" in capsys.readouterr().err

    assert main(["poison", "replay", by_run["run-b"]["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replayed": [
        {"id": by_run["run-b"]["id"], "runId": "run-b", "outcome": "queued again"}]}
    [replayed] = queues.work.receive_messages()
    assert WorkMessage.from_json(replayed.content.decode()).run.run_id == "run-b"

    assert main(["poison", "purge", "--all", "--older-than", "1d", "--yes"]) == 0  # nothing is a day old yet
    assert "purged 0 message(s)" in capsys.readouterr().out
    assert main(["poison", "purge", "--all"]) == 1  # more than the ids named, and no one to ask: refused
    assert "delete 1 message(s); add --yes" in capsys.readouterr().err
    assert main(["poison", "purge", "--all", "--yes"]) == 0
    assert "purged 1 message(s)" in capsys.readouterr().out
    assert main(["poison", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0


def test_replay_all_empties_the_poison_queue(queues: Queues, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poison", "replay", "--all"]) == 0
    out = capsys.readouterr().out
    assert "replayed 2 of 2 message(s)" in out and "run-a" in out and out.count("queued again") == 2
    runs = sorted(WorkMessage.from_json(m.content.decode()).run.run_id
                  for m in queues.work.receive_messages(max_messages=32))
    assert runs == ["run-a", "run-b"]


def test_settings_errors_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)
    assert main(["poison", "list"]) == 1
    assert "AzureWebJobsStorage" in capsys.readouterr().err


def envelope_of(n: int, factory: str, error_class: str) -> str:
    return PoisonEnvelope(message=work(f"run-{n:03d}"), error_class=error_class, reason=f"reason {n}", attempts=5,
                          first_seen="2026-11-24T01:00:00Z", last_failure="2026-11-24T01:05:00Z",
                          run_id=f"run-{n:03d}", factory=factory).to_json()


def test_poison_at_scale_lists_every_message_with_filters_and_acts_by_id_prefix(
        queues: Queues, capsys: pytest.CaptureFixture[str]) -> None:
    other = FACTORY.replace("adf-1", "adf-2")
    for n in range(40):
        queues.send_poison(envelope_of(n, other if n % 4 == 0 else FACTORY,
                                       "DataFactoryError" if n % 2 else "PurviewError"))
    assert main(["poison", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 42  # past the 32 a peek shows
    assert main(["poison", "list", "--json", "--top", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 5
    assert main(["poison", "list", "--json", "--factory", "ADF-2"]) == 0
    assert {m["runId"] for m in json.loads(capsys.readouterr().out)["messages"]} == {
        f"run-{n:03d}" for n in range(0, 40, 4)}
    assert main(["poison", "list", "--json", "--error-class", "datafactoryerror", "--newer-than", "1h"]) == 0
    listed = json.loads(capsys.readouterr().out)["messages"]
    assert len(listed) == 20 and {m["errorClass"] for m in listed} == {"DataFactoryError"}
    assert main(["poison", "list", "--json", "--older-than", "1d"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0

    one = listed[0]["id"]
    assert main(["poison", "show", one[:12], "-o", "json"]) == 0  # a unique start of an id will do
    assert json.loads(capsys.readouterr().out)["id"] == one
    assert main(["poison", "show", ""]) == 1  # the start of every id: ambiguous, said so
    assert "give more of it" in capsys.readouterr().err

    assert main(["poison", "replay", "--all", "--factory", "adf-2", "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)["replayed"]
    assert len(replayed) == 10 and {r["outcome"] for r in replayed} == {"queued again"}
    assert main(["poison", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 32  # the others are back, untouched
