"""Run every benchmark: `python -m benchmarks` (the README's `make bench`)."""

import sys

from benchmarks import pricing, protocol_chain

if __name__ == "__main__":
    status = pricing.main() or 0
    sys.exit(status or protocol_chain.main())
