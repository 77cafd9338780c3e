"""``python -m lineage --local``: the commands on the stack ``./run-local --serve`` keeps up, not on Azure.

That stack writes its settings to ``.local/env`` (``lineage.local.envfile``) and removes the file when it stops;
here they replace the app settings for one command. A file left by a stack that is gone is refused with the way to
start one, rather than leaving every command to time out against ports nobody listens on.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lineage.service.wiring import SettingsError, environment

ENV_FILE = Path(__file__).resolve().parents[2] / ".local" / "env"
PID_SETTING = "LINEAGE_LOCAL_PID"
START = "start it with ./run-local --serve"
# The app settings the commands read: those of the caller's shell that the local stack's file does not set are
# hidden, so none of them reaches Azure (an account's queues or table, a named Purview account, a user-assigned
# identity, another table or collection mapping).
APP_SETTINGS = ("AzureWebJobsStorage", "PURVIEW_", "DATAFACTORY_", "LINEAGE_", "AZURE_CLIENT_ID")


def read_env(path: Path) -> dict[str, str]:
    """The settings of a running local stack; SettingsError when there is none."""
    if not path.is_file():
        raise SettingsError(f"no local stack: {path} does not exist; {START}")
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        if len(words) != 1 or "=" not in words[0]:
            raise SettingsError(f"{path}, line {number}: not a KEY=VALUE line; {START} to write it again")
        key, value = words[0].split("=", 1)
        values[key] = value
    pid = values.pop(PID_SETTING, "")
    if not pid.isdigit() or not _running(int(pid)):
        raise SettingsError(f"the local stack of {path} is not running any more; {START}")
    return values


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


@contextmanager
def local_environment(path: Path) -> Iterator[None]:
    """The local stack's settings in ``os.environ`` for the length of one command, then the caller's again."""
    values = read_env(path)
    with environment(values, without=[k for k in os.environ if k.startswith(APP_SETTINGS) and k not in values]):
        yield
