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

    assert main(["poison", "show", by_run["run-a"]["id"]]) == 0
    assert json.loads(capsys.readouterr().out)["attempts"] == 5
    assert main(["poison", "show", "no-such-id"]) == 1
    assert "no message no-such-id" in capsys.readouterr().err

    assert main(["poison", "replay", by_run["run-b"]["id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"replayed": [by_run["run-b"]["id"]]}
    [replayed] = queues.work.receive_messages()
    assert WorkMessage.from_json(replayed.content.decode()).run.run_id == "run-b"

    assert main(["poison", "purge", "--older-than", "1"]) == 0  # nothing is a day old yet
    assert "purged 0 message(s)" in capsys.readouterr().out
    assert main(["poison", "purge", "--all"]) == 0
    assert "purged 1 message(s)" in capsys.readouterr().out
    assert main(["poison", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["count"] == 0


def test_replay_all_empties_the_poison_queue(queues: Queues, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poison", "replay", "--all"]) == 0
    assert "replayed 2 message(s)" in capsys.readouterr().out
    runs = sorted(WorkMessage.from_json(m.content.decode()).run.run_id
                  for m in queues.work.receive_messages(max_messages=32))
    assert runs == ["run-a", "run-b"]


def test_settings_errors_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("AzureWebJobsStorage", raising=False)
    monkeypatch.delenv("AzureWebJobsStorage__queueServiceUri", raising=False)
    assert main(["poison", "list"]) == 1
    assert "AzureWebJobsStorage" in capsys.readouterr().err
