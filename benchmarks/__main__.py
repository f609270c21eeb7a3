"""Run every benchmark: `python -m benchmarks` (the README's `make bench`)."""

import sys

from benchmarks import protocol_chain

if __name__ == "__main__":
    sys.exit(protocol_chain.main())
