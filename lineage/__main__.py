"""``python -m lineage``: the command line."""

from lineage.cli import main

raise SystemExit(main())
