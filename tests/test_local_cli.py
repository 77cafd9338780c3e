"""``./run-local --serve`` and ``python -m lineage --local``: the operator's commands on the running local stack.

Everything as an operator runs it: the stack in its own process, as ``./run-local --serve`` starts it, writing its
settings file; each command in a process of its own that knows nothing but that file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from lineage.azure.queues import Queues
from lineage.cli.local import read_env
from lineage.local.stack import load_records
from lineage.service.events import WorkMessage, run_ref
from lineage.service.poison import PoisonEnvelope
from lineage.service.wiring import SettingsError
from tests.conftest import ROOT, SAMPLES
from tests.records import ended_at, sample_outcomes

pytestmark = pytest.mark.integration
RECORD = load_records(SAMPLES)[0]
FACTORY, RUN_ID = RECORD["factory"], RECORD["pipelineRun"]["runId"]


OUTCOMES, PIPELINES = sample_outcomes(load_records(SAMPLES))


class Served:
    def __init__(self, process: subprocess.Popen[bytes], env_file: Path, log: Path) -> None:
        self.process, self.env_file, self.log = process, env_file, log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("served")
    env_file, log, runs = workdir / "env", workdir / "stack.log", workdir / "runs"
    runs.mkdir()
    for path in sorted(SAMPLES.glob("*.json")):  # the samples, ended an hour ago
        moved = ended_at(json.loads(path.read_text(encoding="utf-8")), datetime.now(UTC) - timedelta(hours=1))
        (runs / path.name).write_text(json.dumps(moved), encoding="utf-8")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lineage.local", "--serve", "--env-file", str(env_file), "--runs", str(runs)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the local stack wrote no settings file in 2 minutes"
            time.sleep(0.2)
        yield Served(process, env_file, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cli(served: Served, *argv: str, shell: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A command in a fresh process whose environment knows no setting of the app (but ``shell``'s): only the
    settings file."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("AzureWebJobs", "LINEAGE_", "PURVIEW_", "DATAFACTORY_", "REQUESTS_CA"))}
    return subprocess.run(
        [sys.executable, "-m", "lineage", "--local-env", str(served.env_file), *argv],
        cwd=ROOT, env={**clean, **(shell or {})}, capture_output=True, text=True, timeout=120, check=False)


def test_the_callers_own_app_settings_never_reach_azure_under_local(served: Served) -> None:
    """An operator's shell holding the deployed app's settings: with --local none of them is used."""
    deployed = {"AzureWebJobsStorage__queueServiceUri": "https://nowhere.invalid",
                "AzureWebJobsStorage__tableServiceUri": "https://nowhere.invalid",
                "PURVIEW_ACCOUNT_NAME": "nowhere", "LINEAGE_LEDGER_TABLE": "notthisone",
                "LINEAGE_SETTINGS": '{"collections": {"default": "elsewhere"}}'}
    for command in (("poison", "list"), ("status",)):
        done = cli(served, *command, "--json", shell=deployed)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "nowhere" not in done.stdout + done.stderr


def test_serve_prints_and_writes_every_setting_the_commands_need_and_no_real_secret(served: Served) -> None:
    settings = read_env(served.env_file)
    assert set(settings) >= {"AzureWebJobsStorage", "LINEAGE_QUEUE_NAME", "DATAFACTORY_ENDPOINT",
                             "PURVIEW_ENDPOINT", "REQUESTS_CA_BUNDLE", "LINEAGE_FACTORIES"}
    assert Path(settings["REQUESTS_CA_BUNDLE"]).is_file()
    assert json.loads(settings["LINEAGE_FACTORIES"]) == [FACTORY]
    assert "random key of this local Azurite" in served.env_file.read_text()
    assert oct(served.env_file.stat().st_mode & 0o777) == "0o600"
    printed = served.output()
    assert settings["PURVIEW_ENDPOINT"] in printed and "python -m lineage --local" in printed
    assert f"pushed   run {RUN_ID}" in printed  # each run's outcome as it was processed


def test_the_page_shows_each_runs_outcome_and_the_graph_grouped_by_pipeline(served: Served) -> None:
    settings = read_env(served.env_file)
    base = settings["PURVIEW_ENDPOINT"].removesuffix("/datamap/api/atlas/v2")
    page = requests.get(f"{base}/", verify=settings["REQUESTS_CA_BUNDLE"], timeout=30).text
    runs = page.split("<table id='lineage-status'>", 1)[1].split("</table>", 1)[0]  # the run ledger's rows
    assert f"<td>{RUN_ID}</td><td>LoadDailySales</td><td>pushed</td>" in runs
    assert page.count("<td>LoadDailySales</td>") == runs.count("<td>LoadDailySales</td>")  # one list of runs
    assert OUTCOMES["pushed"] >= 6 and OUTCOMES["skipped"] >= 1  # the samples hold both kinds
    assert runs.count("<td>pushed</td>") == OUTCOMES["pushed"] and runs.count("<td>skipped</td>") == OUTCOMES["skipped"]
    graph = requests.get(f"{base}/lineage.mmd", verify=settings["REQUESTS_CA_BUNDLE"], timeout=30).text
    assert graph.count("subgraph ") == PIPELINES and '["LoadDailySales"]' in graph


def test_commands_work_on_the_local_stack(served: Served) -> None:
    doctor = cli(served, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert json.loads(doctor.stdout)["ok"] is True
    app_checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"] if c["area"] == "app identity"}
    assert set(app_checks) == {"func-lineage-local: managed identity", "func-lineage-local on contoso-adf-prod",
                               "func-lineage-local on storage lineagelocal"}  # the app's roles, as in Azure

    dry = cli(served, "push", "--factory", FACTORY, "--run-id", RUN_ID, "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["outcome"] == "dry-run"

    pushed = cli(served, "push", "--factory", FACTORY, "--run-id", RUN_ID, "--json")
    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["outcome"] == "pushed"

    backfill = cli(served, "backfill", "--since", "3h", "--now", "--json")
    assert backfill.returncode == 0, backfill.stderr
    assert json.loads(backfill.stdout)["outcomes"] == OUTCOMES


def test_a_poison_message_is_listed_shown_replayed_and_processed_by_the_running_stack(served: Served) -> None:
    settings = read_env(served.env_file)
    queues = Queues.connect(settings["LINEAGE_QUEUE_NAME"], connection_string=settings["AzureWebJobsStorage"])
    work = WorkMessage(run_ref({"runId": RUN_ID, "factoryId": FACTORY}), None, "2026-11-24T01:00:00Z").to_json()
    queues.send_poison(PoisonEnvelope(message=work, error_class="PurviewError", reason="HTTP 403: not allowed",
                                      attempts=5, first_seen="2026-11-24T01:00:00Z",
                                      last_failure="2026-11-24T01:05:00Z", run_id=RUN_ID, factory=FACTORY).to_json())
    listed = cli(served, "poison", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [message] = json.loads(listed.stdout)["messages"]
    assert message["runId"] == RUN_ID
    shown = cli(served, "poison", "show", message["id"][:8], "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["reason"] == "HTTP 403: not allowed"

    before = served.output().count(f"run {RUN_ID}")
    replayed = cli(served, "poison", "replay", message["id"])
    assert replayed.returncode == 0 and "queued again" in replayed.stdout
    deadline = time.monotonic() + 60
    while served.output().count(f"run {RUN_ID}") == before:  # the stack's queue listener takes it
        assert time.monotonic() < deadline, served.output()
        time.sleep(0.2)
    assert json.loads(cli(served, "poison", "list", "--json").stdout)["count"] == 0


def test_a_stopped_stack_removes_its_settings_and_the_commands_say_how_to_start_one(served: Served) -> None:
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(timeout=60) == 0
    assert not served.env_file.exists()
    listed = cli(served, "poison", "list")
    assert listed.returncode == 1
    assert "start it with ./run-local --serve" in listed.stderr and "Traceback" not in listed.stderr


def test_settings_of_a_stack_that_died_are_refused_not_tried(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    env_file.write_text(f"PURVIEW_ENDPOINT=https://127.0.0.1:1/x\nLINEAGE_LOCAL_PID={dead.stdout.strip()}\n")
    with pytest.raises(SettingsError, match=r"is not running any more; start it with \./run-local --serve"):
        read_env(env_file)
