"""``python -m lineage``: the command line."""

import logging

from lineage.cli.main import main

# Our warnings on stderr; the Azure SDKs' own (a credential chain's every attempt, each retry) only when they fail
# for good, which the commands then report in one line.
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("azure").setLevel(logging.ERROR)

raise SystemExit(main())
