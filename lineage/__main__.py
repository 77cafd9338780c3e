"""``python -m lineage``: the command line."""

import logging
import os
import sys

from azure.core.credentials import TokenCredential

from lineage.cli.main import main


def _local_credential() -> TokenCredential:
    """``--local``: the local servers take only their own tokens (the entry point is where the two rooms meet)."""
    from lineage.local.credential import LocalCredential  # noqa: PLC0415 - only --local needs it

    return LocalCredential()


# Our warnings on stderr; the Azure SDKs' own (a credential chain's every attempt, each retry) only when they fail
# for good, which the commands then report in one line.
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("azure").setLevel(logging.ERROR)

try:
    code = main(local_credential=_local_credential)
    sys.stdout.flush()
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    code = 130
except BrokenPipeError:  # the reader of our output went away (`| head`): nothing more to say, and no one to say it to
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the flush at exit does not fail again
    code = 1
raise SystemExit(code)
