"""``python -m replicator.demo.d365``: the Dynamics 365 demo's tour commands (``client.py``)."""

from __future__ import annotations

import sys

from .client import main

if __name__ == "__main__":
    sys.exit(main())
