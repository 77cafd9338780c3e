"""``.local/env``: what ``python -m lineage --local`` needs to reach the stack ``./run-local --serve`` keeps up.

The file is shell syntax (``set -a; . .local/env; set +a`` exports it too): the app settings the commands read,
pointed at the local servers, and the CA they serve with. It holds no real secret: the only key in it is the random
one this Azurite was started with, good for nothing else and gone when the stack stops. The file lives as long as
the stack: it names the process that serves it, and that process removes it on the way out.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

HEADER = """\
# The local stack of ./run-local --serve (process {pid}), for `python -m lineage --local COMMAND`.
# No real secret: AzureWebJobsStorage's AccountKey is a random key of this local Azurite only, and dies with it.
"""
PID_SETTING = "LINEAGE_LOCAL_PID"


def write_env(path: Path, settings: Mapping[str, str], pid: int | None = None) -> str:
    """Write the settings (readable by the owner only) and return the text written."""
    pid = os.getpid() if pid is None else pid
    lines = [f"{key}={shlex.quote(value)}" for key, value in {**settings, PID_SETTING: str(pid)}.items()]
    text = HEADER.format(pid=pid) + "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)  # a file left by an older stack keeps its mode otherwise
    path.write_text(text, encoding="utf-8")
    return text


def remove_env(path: Path, pid: int | None = None) -> None:
    """Remove the file if it is still this process's (a newer stack may have written its own since)."""
    pid = os.getpid() if pid is None else pid
    if path.is_file() and f"{PID_SETTING}={pid}\n" in path.read_text(encoding="utf-8"):
        path.unlink()
