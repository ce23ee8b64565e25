"""``python -m crawler.replica --port 0 --day N``: serve the replica (see docs/replica.md)."""

import sys

from crawler.replica.cli import run

if __name__ == "__main__":
    sys.exit(run())
