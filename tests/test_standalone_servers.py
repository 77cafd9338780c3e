"""The two local servers run standalone side by side, each with its own CA (neither overwrites the other's), and
the README's ``func start`` recipe starts the Azurite services the Functions host needs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.integration


def started(command: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The Data Factory and Purview servers as the README starts them (default TLS folders), in a fresh folder."""
    adf = started([sys.executable, "-m", "lineage.local.adf_server", "--root", str(SAMPLES), "--port", "0"],
                  tmp_path, tmp_path / "adf.log")
    purview = started([sys.executable, "-m", "lineage.local.purview_server", "--port", "0"], tmp_path,
                      tmp_path / "purview.log")
    try:
        urls = []
        for log in (tmp_path / "adf.log", tmp_path / "purview.log"):
            deadline = time.monotonic() + 60
            while not (found := re.search(r"https://127\.0\.0\.1:\d+", log.read_text())):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            urls.append(found.group(0))
        yield urls[0], urls[1]
    finally:
        for process in (adf, purview):
            process.terminate()
            process.wait(timeout=30)


def test_each_standalone_server_keeps_its_own_ca(both: tuple[str, str], tmp_path: Path) -> None:
    adf_url, purview_url = both
    adf_ca, purview_ca = tmp_path / ".local/tls/adf/local-ca.pem", tmp_path / ".local/tls/purview/local-ca.pem"
    assert adf_ca.read_bytes() != purview_ca.read_bytes()
    # Each answers over TLS its own CA vouches for, however the other started after it
    assert requests.get(f"{adf_url}/subscriptions", verify=str(adf_ca), timeout=30).status_code == 401
    assert requests.get(f"{purview_url}/", verify=str(purview_ca), timeout=30).status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{purview_url}/", verify=str(adf_ca), timeout=30)
    both_cas = tmp_path / "both.pem"
    both_cas.write_bytes(adf_ca.read_bytes() + purview_ca.read_bytes())  # as README says to trust both
    assert requests.get(f"{purview_url}/", verify=str(both_cas), timeout=30).status_code == 200


def test_the_func_start_recipe_runs_blob_queue_and_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    recipe = readme.split("### Under the real Functions host", 1)[1].split("###", 1)[0]
    [azurite] = [line for line in recipe.splitlines() if line.startswith("npx azurite")]
    assert azurite.split()[1] == "azurite"  # the whole emulator: azurite-queue alone has no blob service
    assert (ROOT / "node_modules" / ".bin" / "azurite").exists()  # package.json installs it (scripts/bootstrap)
