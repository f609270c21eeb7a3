"""optsim benchmarks: each prints a table with ratios against its peer, measured in the same run."""
