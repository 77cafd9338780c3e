"""Each failure an operator meets says what failed and what to do next, in one line: no traceback, no repr.

Driven for real against the local stack: a sign-in that cannot get a token (azure-identity's own
``EnvironmentCredential`` with nothing configured), a CA this machine does not trust, permissions denied by the local
Data Factory, Purview and Azurite, and ``--debug`` showing the HTTP exchange with nothing secret in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.identity import EnvironmentCredential

from lineage.cli.main import main
from lineage.local.azurite import Azurite
from lineage.local.envfile import write_env
from lineage.local.stack import LocalStack, load_records, local_stack
from lineage.local.tls import make_local_tls
from tests.conftest import ROOT, SAMPLES, use_local_stack_settings
from tests.records import ended_at, sample_outcomes

pytestmark = pytest.mark.integration
RECORD = load_records(SAMPLES)[0]
FACTORY, RUN_ID = RECORD["factory"], RECORD["pipelineRun"]["runId"]


@pytest.fixture(scope="module")
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with local_stack(SAMPLES, azurite=azurite, queue_name="errors-runs") as running:
        yield running


@pytest.fixture(autouse=True)
def env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    use_local_stack_settings(stack, monkeypatch, [FACTORY])
    for key in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_USERNAME", "AZURE_PASSWORD",
                "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(key, raising=False)
    stack.reset()


def failed(stack: LocalStack, capsys: pytest.CaptureFixture[str], *argv: str, credential: object = None) -> str:
    capsys.readouterr()
    assert main(list(argv), credential=credential or stack.credential) == 1  # type: ignore[arg-type]
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return captured.err


def test_no_sign_in_says_az_login_for_data_factory_and_purview(stack: LocalStack,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    nobody = EnvironmentCredential()  # nothing configured: it cannot issue a token
    for argv in (["push", "--factory", FACTORY, "--run-id", RUN_ID], ["resource-sets"]):
        err = failed(stack, capsys, *argv, credential=nobody)
        assert "error: no usable Azure sign-in (CredentialUnavailableError" in err and "az login" in err, err


def test_an_untrusted_certificate_is_called_a_tls_failure_with_the_fix(
        stack: LocalStack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    other = make_local_tls(tmp_path / "other-ca")  # a CA the servers' certificates do not chain to
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other.ca_bundle))
    err = failed(stack, capsys, "resource-sets")
    assert "TLS failure: the server's certificate is not trusted" in err and "REQUESTS_CA_BUNDLE" in err, err


def test_a_missing_permission_names_the_role_that_grants_it(stack: LocalStack, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    stack.adf.deny(FACTORY, "pipelineruns")
    err = failed(stack, capsys, "push", "--factory", FACTORY, "--run-id", RUN_ID)
    assert "lacks Microsoft.DataFactory/factories/pipelineruns/read" in err and "factory-reader-role.bicep" in err
    stack.adf.allow_all()

    stack.adf.deny(FACTORY, "pipelines/write")
    err = failed(stack, capsys, "wrap", "--factory", FACTORY, "--pipeline", "LoadDailySales", "--topic-endpoint",
                 "https://topic.westeurope-1.eventgrid.azure.net/api/events")
    assert "lacks Microsoft.DataFactory/factories/pipelines/write" in err and "Data Factory Contributor" in err, err
    stack.adf.allow_all()

    stack.purview.inject(status=403, path_contains="/entity/bulk", times=5, body={
        "requestId": "r1", "errorCode": "Forbidden", "errorMessage": "Not authorized"})
    err = failed(stack, capsys, "push", "--factory", FACTORY, "--run-id", RUN_ID)
    assert "HTTP 403" in err and "Data Curator" in err, err

    account = stack.cli_settings([])["AzureWebJobsStorage"]
    wrong = account.replace("AccountKey=", "AccountKey=AAAA")  # a key Azurite does not hold: refused with 403
    monkeypatch.setenv("AzureWebJobsStorage", wrong)
    err = failed(stack, capsys, "poison", "list")
    assert "error: Azure Storage refused the credential (AuthenticationFailed)" in err, err
    assert "AzureWebJobsStorage is wrong" in err


def test_summaries_are_words_not_python_reprs(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    for record in load_records(SAMPLES):  # the samples, ended an hour ago
        stack.adf.put_run(ended_at(record, datetime.now(UTC) - timedelta(hours=1)))
    assert main(["backfill", "--since", "3h", "--now"], credential=stack.credential) == 0
    out = capsys.readouterr().out
    outcomes, _ = sample_outcomes(load_records(SAMPLES))
    found = sum(outcomes.values())
    assert f"found: contoso-adf-prod {found}" in out and "failures: none" in out
    assert f"outcomes: pushed {outcomes['pushed']}, skipped {outcomes['skipped']}" in out
    assert f"pushed   run {RUN_ID} (LoadDailySales): " in out  # each run's outcome as it ends
    assert not any(mark in out for mark in ("{'", "['", "{}")), out
    main(["doctor", "--factory", FACTORY], credential=stack.credential)
    out = capsys.readouterr().out
    assert "retry and wait limits - 5 attempts per message" in out and "WorkerSettings(" not in out


def test_debug_shows_each_http_exchange_and_nothing_secret(stack: LocalStack, tmp_path: Path) -> None:
    settings = stack.cli_settings([FACTORY])
    write_env(tmp_path / "env", settings)  # this process serves: the stack lives as long as it does
    done = subprocess.run(
        [sys.executable, "-m", "lineage", "--local-env", str(tmp_path / "env"), "--debug", "push", "--factory",
         FACTORY, "--run-id", RUN_ID, "--dry-run"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False, env={k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobs", "LINEAGE_"))})
    assert done.returncode == 0, done.stderr
    assert '"GET /subscriptions/' in done.stderr and "/pipelineruns/" in done.stderr and " 200 " in done.stderr
    assert "/entity/bulk/uniqueAttribute/type/" in done.stderr  # the catalog look-ups, Purview's side
    key = settings["AzureWebJobsStorage"].split("AccountKey=")[1].split(";")[0]
    assert "local-token:" not in done.stderr and key not in done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "lineage", "--local-env", str(tmp_path / "env"), "--debug", "poison", "list",
         "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert listed.returncode == 0 and json.loads(listed.stdout)["count"] == 0, listed.stderr
    assert "errors-runs-poison" in listed.stderr and key not in listed.stderr


def test_a_reader_that_stops_reading_ends_the_command_quietly() -> None:
    process = subprocess.Popen([sys.executable, "-m", "lineage", "explain", *map(str, sorted(SAMPLES.glob("*.json")))],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # as `| head` does, before a byte is written
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert err == ""
