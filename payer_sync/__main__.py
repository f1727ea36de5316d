"""``python -m payer_sync ARGS`` is ``payoutengine sync ARGS``."""

from __future__ import annotations

import sys

from payoutengine.cli import main

main(["sync", *sys.argv[1:]])
