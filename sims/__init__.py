"""optsim sims."""
