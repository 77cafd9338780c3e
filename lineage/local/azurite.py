"""Azurite, the real Azure Storage emulator, as a child process owned by whoever starts it.

Each start gets a fresh in-memory store, free ports and a random account key (Azurite's ``AZURITE_ACCOUNTS``), so
no well-known key is ever written down and parallel runs never share a queue or a table. All three services run: the
queues carry the work, the table holds the run ledger, and the Functions host keeps its timer state in Blob (a
``reconcile_runs`` timer under ``func start`` needs it). SDK calls against a stopped Azurite retry for minutes, so
``start`` waits for every port and fails fast when the process dies.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "lineagelocal"


class AzuriteError(RuntimeError):
    """Azurite could not be started; the message says what to install or check."""


class Azurite:
    """``with Azurite() as azurite: azurite.connection_string``."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, table_port: int | None = None,
                 blob_port: int | None = None) -> None:
        self.host = host
        self.port = port or _free_port(host)  # the queue service's
        self.table_port = table_port or _free_port(host)
        self.blob_port = blob_port or _free_port(host)
        self._key = base64.b64encode(secrets.token_bytes(32)).decode()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={self._key};"
            f"BlobEndpoint={self.blob_endpoint};QueueEndpoint=http://{self.host}:{self.port}/{ACCOUNT};"
            f"TableEndpoint={self.table_endpoint};"
        )

    @property
    def table_endpoint(self) -> str:
        """The table service's URL (the run ledger), as a connection string's ``TableEndpoint`` names it."""
        return f"http://{self.host}:{self.table_port}/{ACCOUNT}"

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.blob_port}/{ACCOUNT}"

    @property
    def pid(self) -> int | None:
        """The Azurite process id while it runs (to read its CPU time)."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self, timeout_s: float = 30.0) -> Azurite:
        command = [
            _executable(), "--queueHost", self.host, "--queuePort", str(self.port),
            "--tableHost", self.host, "--tablePort", str(self.table_port),
            "--blobHost", self.host, "--blobPort", str(self.blob_port),
            "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry", "--loose", "--silent",
        ]
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{self._key}"}
        self._process = subprocess.Popen(  # noqa: S603 - our own fixed command line
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        deadline = time.monotonic() + timeout_s
        waiting = [self.port, self.table_port, self.blob_port]
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise AzuriteError(f"Azurite exited with code {self._process.returncode}: {error.strip()[:500]}")
            try:
                with socket.create_connection((self.host, waiting[0]), timeout=0.2):
                    waiting.pop(0)
                    if not waiting:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AzuriteError(f"Azurite did not listen on {self.host}:{waiting} within {timeout_s:.0f}s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _executable() -> str:
    local = ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise AzuriteError("Azurite is not installed: run scripts/bootstrap (it runs `npm ci`), or npm install azurite")


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
